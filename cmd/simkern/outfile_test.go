package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// An existing file is replaced whole or not at all: a write that fails
// part of the way (a full disk) leaves the earlier contents as they were,
// as campaigns.md promises; one that succeeds leaves the new contents
// with the file's permissions, through a symbolic link the link stays a
// link, and no temporary file is left beside it either way.
func TestReplaceIsWholeOrNothing(t *testing.T) {
	errFull := errors.New("no space left on device")
	for _, tc := range []struct {
		name     string
		link     bool
		fail     bool
		want     string
		wantErr  bool
		wantMode fs.FileMode
	}{
		{name: "a failed write keeps the earlier file", fail: true, want: "old results\n", wantErr: true, wantMode: 0o640},
		{name: "a whole write replaces it", want: "new results\n", wantMode: 0o640},
		{name: "a failed write through a link keeps the target", link: true, fail: true, want: "old results\n", wantErr: true, wantMode: 0o640},
		{name: "a whole write through a link replaces the target", link: true, want: "new results\n", wantMode: 0o640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.link && runtime.GOOS == "windows" {
				t.Skip("symbolic links need privileges on Windows")
			}
			dir := t.TempDir()
			target := filepath.Join(dir, "results.jsonl")
			if err := os.WriteFile(target, []byte("old results\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(target, 0o640); err != nil {
				t.Fatal(err)
			}
			path := target
			if tc.link {
				path = filepath.Join(dir, "link.jsonl")
				if err := os.Symlink("results.jsonl", path); err != nil {
					t.Fatal(err)
				}
			}
			o, err := openOut(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = o.replace(func(w io.Writer) error {
				if tc.fail {
					fmt.Fprint(w, "new res")
					return errFull
				}
				_, err := fmt.Fprint(w, "new results\n")
				return err
			})
			if (err != nil) != tc.wantErr {
				t.Fatalf("replace: %v, want an error: %v", err, tc.wantErr)
			}
			data, err := os.ReadFile(target)
			if err != nil || string(data) != tc.want {
				t.Errorf("the file holds %q (%v), want %q", data, err, tc.want)
			}
			if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != tc.wantMode && runtime.GOOS != "windows" {
				t.Errorf("the file's mode is %v (%v), want %v", fi.Mode().Perm(), err, tc.wantMode)
			}
			if tc.link {
				if fi, err := os.Lstat(path); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
					t.Errorf("the link is no longer a link: %v, %v", fi, err)
				}
			}
			entries, _ := os.ReadDir(dir)
			want := 1 // the file, and the link when there is one
			if tc.link {
				want++
			}
			if len(entries) != want {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the directory holds %v, want only the file and any link", names)
			}
		})
	}
}
