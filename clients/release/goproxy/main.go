// Command goproxy writes a module proxy directory (the GOPROXY protocol's files: @v/list,
// vX.Y.Z.info, .mod, .zip) holding one module at one version, taken from a directory. With
// GOPROXY=file://DIR, `go get module@version` resolves and verifies it exactly as it would a
// tagged release from proxy.golang.org, without publishing anything. golang.org/x/mod/zip makes the
// zip, with the same file rules the real proxy applies.
//
//	go run . MODULE_DIR VERSION OUT_DIR
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: goproxy MODULE_DIR VERSION OUT_DIR")
		os.Exit(2)
	}
	if err := write(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "goproxy:", err)
		os.Exit(1)
	}
}

func write(dir, version, out string) error {
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	path := modfile.ModulePath(goMod)
	mod := module.Version{Path: path, Version: version}
	if err := module.Check(path, version); err != nil {
		return err
	}
	escaped, err := module.EscapePath(path)
	if err != nil {
		return err
	}
	versions := filepath.Join(out, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(versions, 0o755); err != nil {
		return err
	}
	archive, err := os.Create(filepath.Join(versions, version+".zip"))
	if err != nil {
		return err
	}
	if err := zip.CreateFromDir(archive, mod, dir); err != nil {
		archive.Close()
		return err
	}
	if err := archive.Close(); err != nil {
		return err
	}
	info, err := json.Marshal(map[string]any{"Version": version, "Time": time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return err
	}
	files := map[string][]byte{version + ".info": info, version + ".mod": goMod, "list": []byte(version + "\n")}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(versions, name), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("%s@%s -> %s\n", path, version, versions)
	return nil
}
