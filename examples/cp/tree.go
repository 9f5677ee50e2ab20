//go:build linux

package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// copyTree copies the directory src to dst, which must not exist, through
// a temporary directory renamed into place once everything in it is
// complete and fsynced.
func (c *copier) copyTree(src, dst string) (err error) {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s: already exists", dst)
	}
	parent := filepath.Dir(dst)
	tmp := filepath.Join(parent, "."+filepath.Base(dst)+".cp-"+randomSuffix())
	if err := c.temps.create(tmp, func() error { return os.Mkdir(tmp, 0o700) }); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.temps.remove(tmp)
		}
	}()

	type dirMode struct {
		path string
		mode fs.FileMode
	}
	var dirs []dirMode
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(tmp, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			// Writable while filling; the real mode is set afterwards.
			if rel != "." {
				if err := os.Mkdir(to, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirMode{to, mode.Perm()})
			return nil
		case mode.IsRegular():
			return c.copyFile(path, to, mode.Perm())
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		}
		return fmt.Errorf("%s: not a regular file, directory or symbolic link", path)
	})
	if err != nil {
		return err
	}
	// Deepest first: a directory is fsynced (its entries made durable)
	// before its parent, and read-only modes go on last.
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := c.syncDir(d.path); err != nil {
			return err
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return err
		}
	}
	if err := c.temps.rename(tmp, dst); err != nil {
		return err
	}
	return c.syncDir(parent)
}

// treeSize is the bytes of regular files under path, for the progress bar.
func treeSize(path string, fi fs.FileInfo) (int64, error) {
	if !fi.IsDir() {
		return fi.Size(), nil
	}
	var total int64
	err := filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	return total, err
}
