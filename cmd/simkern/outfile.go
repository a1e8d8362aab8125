package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// outFile is a file a command writes at its end (campaign --out, run
// --dump), opened at its start: a path that cannot be opened costs no
// run, and a run that ends without writing leaves an earlier file as it
// was and removes one it created.
type outFile struct {
	f       *os.File
	created bool // the command made the file: abandon removes it
	done    bool
}

// openOut opens path for writing without emptying it: a regular file (new
// or not) or a device such as /dev/stdout, never a directory, and never
// the scenario file itself.
func openOut(path, scenarioFile string) (*outFile, error) {
	fi, err := os.Stat(path)
	created := errors.Is(err, fs.ErrNotExist)
	if sfi, serr := os.Stat(scenarioFile); err == nil && serr == nil && os.SameFile(fi, sfi) {
		return nil, fmt.Errorf("%s is the scenario file", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	return &outFile{f: f, created: created}, nil
}

// replace replaces the file's contents with what write writes, and closes
// it. A write that fails removes a file the command created.
func (o *outFile) replace(write func(io.Writer) error) error {
	o.done = true
	if fi, err := o.f.Stat(); err == nil && fi.Mode().IsRegular() {
		if err := o.f.Truncate(0); err != nil {
			o.f.Close()
			return err
		}
	}
	err := errors.Join(write(o.f), o.f.Close())
	if err != nil && o.created {
		os.Remove(o.f.Name())
	}
	return err
}

// abandon closes a file the command never wrote, removing it if the
// command created it.
func (o *outFile) abandon() {
	if o.done {
		return
	}
	o.f.Close()
	if o.created {
		os.Remove(o.f.Name())
	}
}
