package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"simkern/scenario"
)

// outFile is a file a command writes at its end (campaign --out, run
// --dump), opened at its start: a path that cannot be opened costs no
// run, and a run that ends without writing, or is interrupted (SIGINT,
// SIGTERM), leaves an earlier file as it was and removes one it created.
type outFile struct {
	f       *os.File
	created bool // the command made the file: abandon removes it
	done    bool
}

// openFiles are the outFiles a command created and has not yet written or
// abandoned, which an interrupt removes.
var openFiles struct {
	sync.Mutex
	set   map[*outFile]bool
	watch sync.Once
	stop  chan struct{} // from stopOnInterrupt: the next interrupt closes it
}

// watchInterrupts starts, once, the watch that abandons the open outFiles
// and exits on SIGINT or SIGTERM. openOut starts it before it opens a
// file.
func watchInterrupts() {
	openFiles.watch.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		go func() {
			for sig := range ch {
				openFiles.Lock()
				stop := openFiles.stop
				if sig == os.Interrupt {
					openFiles.stop = nil
				} else {
					stop = nil // SIGTERM ends the process at once
				}
				openFiles.Unlock()
				if stop != nil {
					close(stop)
					continue
				}
				abandonAll()
				code := 130 // 128 + SIGINT, as a shell reports it
				if s, ok := sig.(syscall.Signal); ok {
					code = 128 + int(s)
				}
				os.Exit(code)
			}
		}()
	})
}

// stopOnInterrupt lets a command stop early and say what it did: the
// next SIGINT closes the channel it returns instead of ending the
// process, and one after that ends it as usual. release withdraws the
// channel, so that an interrupt once the command has stopped ends the
// process at once.
func stopOnInterrupt() (stop <-chan struct{}, release func()) {
	watchInterrupts()
	ch := make(chan struct{})
	openFiles.Lock()
	openFiles.stop = ch
	openFiles.Unlock()
	return ch, func() {
		openFiles.Lock()
		if openFiles.stop == ch {
			openFiles.stop = nil
		}
		openFiles.Unlock()
	}
}

// abandonAll abandons every open outFile, and leaves openFiles locked: the
// process is about to exit, and no file may be written after.
func abandonAll() {
	openFiles.Lock()
	for o := range openFiles.set {
		o.abandonLocked()
	}
}

// input is a file a run reads, which no output file may overwrite.
type input struct{ path, what string }

// inputsOf lists the files a run of s reads: the scenario file (none for
// the built-in tour, file ""), the --pooltag file, and the trace files its
// steps replay.
func inputsOf(s *scenario.Scenario, file, pooltag string) []input {
	var in []input
	if file != "" {
		in = append(in, input{file, "the scenario file"})
	}
	if pooltag != "" {
		in = append(in, input{pooltag, "the --pooltag file"})
	}
	anyStep(s, func(st *scenario.Step) bool {
		if st.Replay != nil && st.Replay.FS == nil {
			in = append(in, input{st.Replay.Path, "a trace file the scenario replays"})
		}
		return false
	})
	return in
}

// checkNotInput refuses an output path that names one of the inputs.
func checkNotInput(path string, inputs []input) error {
	fi, err := os.Stat(path)
	for _, in := range inputs {
		ifi, ierr := os.Stat(in.path)
		if filepath.Clean(in.path) == filepath.Clean(path) || err == nil && ierr == nil && os.SameFile(fi, ifi) {
			return fmt.Errorf("%s is %s", path, in.what)
		}
	}
	return nil
}

// openOut opens path for writing without emptying it: a regular file (new
// or not) or a device such as /dev/stdout, never a directory, and never
// one of the run's inputs.
func openOut(path string, inputs []input) (*outFile, error) {
	if err := checkNotInput(path, inputs); err != nil {
		return nil, err
	}
	watchInterrupts()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		// An existing file (or device, or symbolic link, dangling or not)
		// is never removed, so an interrupt has nothing to do with it: it
		// is not tracked, and its open (a FIFO waits for its reader)
		// holds no lock.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o666)
		if err != nil {
			return nil, err
		}
		return &outFile{f: f}, nil
	}
	// A new file is created and tracked under the lock, so an interrupt
	// that comes meanwhile waits, then removes it.
	openFiles.Lock()
	defer openFiles.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, err
	}
	o := &outFile{f: f, created: true}
	if openFiles.set == nil {
		openFiles.set = map[*outFile]bool{}
	}
	openFiles.set[o] = true
	return o, nil
}

// replace replaces the file's contents with what write writes, and closes
// it. An earlier file is replaced whole or not at all: the new contents
// go to a file beside it, renamed over it once they are all written, so a
// write that fails (a full disk) leaves it as it was. A write that fails
// removes a file the command created.
func (o *outFile) replace(write func(io.Writer) error) error {
	fi, err := o.f.Stat()
	regular := err == nil && fi.Mode().IsRegular()
	openFiles.Lock()
	delete(openFiles.set, o)
	o.done = true
	if !regular {
		// A pipe or a device may block for as long as its reader likes:
		// an interrupt must still end the command then, and has nothing
		// to remove.
		openFiles.Unlock()
		return errors.Join(write(o.f), o.f.Close())
	}
	defer openFiles.Unlock() // an interrupt waits until the file is whole
	if !o.created {
		if tmp, path := o.beside(); tmp != nil {
			o.f.Close() // before the rename, which an open file blocks on Windows
			err := errors.Join(write(tmp), tmp.Chmod(fi.Mode().Perm()), tmp.Close())
			if err == nil {
				err = os.Rename(tmp.Name(), path)
			}
			if err != nil {
				os.Remove(tmp.Name())
			}
			return err
		}
		// A directory the command cannot add a file to: in place, then.
	}
	if err := o.f.Truncate(0); err != nil {
		o.f.Close()
		return err
	}
	err = errors.Join(write(o.f), o.f.Close())
	if err != nil && o.created {
		os.Remove(o.f.Name())
	}
	return err
}

// beside creates a hidden temporary file beside the file's contents, and
// returns it and the path it is to be renamed to: the file's, through any
// symbolic links, which stay as they are. It returns nil when it cannot.
func (o *outFile) beside() (*os.File, string) {
	path, err := filepath.EvalSymlinks(o.f.Name())
	if err != nil {
		path = o.f.Name()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, ""
	}
	return tmp, path
}

// abandon closes a file the command never wrote, removing it if the
// command created it.
func (o *outFile) abandon() {
	openFiles.Lock()
	defer openFiles.Unlock()
	o.abandonLocked()
}

func (o *outFile) abandonLocked() {
	delete(openFiles.set, o)
	if o.done {
		return
	}
	o.done = true
	o.f.Close()
	if o.created {
		os.Remove(o.f.Name())
	}
}
