// Command rewind-capacity recomputes the derived tables of Rewind's
// capacity model (docs/capacity.md) from the measured inputs and the
// assumptions in that document's tables: edit a figure there, run this, and
// the worked examples follow.
//
//	go run ./bench/cmd/rewind-capacity -w docs/capacity.md   # rewrite in place
//	go run ./bench/cmd/rewind-capacity docs/capacity.md      # print the result
//	go run ./bench/cmd/rewind-capacity -check docs/capacity.md
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/rewind-dev/rewind/bench/capacity"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rewind-capacity:", err)
		os.Exit(1)
	}
}

func run() error {
	write := flag.Bool("w", false, "write the result to the file instead of printing it")
	check := flag.Bool("check", false, "fail if the file's generated part is not current")
	flag.Parse()
	if flag.NArg() != 1 {
		return errors.New("give one file, e.g. docs/capacity.md")
	}
	file := flag.Arg(0)
	old, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	md, err := capacity.Update(string(old))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	switch {
	case *check:
		if md != string(old) {
			return fmt.Errorf("%s is not current: run go run ./bench/cmd/rewind-capacity -w %s", file, file)
		}
		return nil
	case *write:
		return os.WriteFile(file, []byte(md), 0o644)
	}
	_, err = fmt.Print(md)
	return err
}
