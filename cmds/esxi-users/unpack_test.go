package main

// unpack and the pinned digests over an in-memory embedded/ directory: the
// compressed task binaries are decompressed and checked against the
// SHA-256 `make plugin` recorded, and a damaged blob is refused by name.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/digitalrebar/logger"
)

// fakeBinary stands for a task binary: compressible, distinct per arch.
func fakeBinary(arch string) []byte {
	return bytes.Repeat([]byte("\x7fELF task binary for linux/"+arch+"\n"), 4096)
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// embeddedFS is embedded/ as `make plugin` leaves it: for each arch the
// gzip blob and the .sha256 of the decompressed binary (sha256sum format).
func embeddedFS(t *testing.T) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, arch := range Arches {
		bin := fakeBinary(arch)
		fsys["embedded/"+compressedName(arch)] = &fstest.MapFile{Data: gzipped(t, bin)}
		fsys["embedded/"+BinaryName(arch)+".sha256"] = &fstest.MapFile{Data: []byte(digest(bin) + "  " + BinaryName(arch) + "\n")}
	}
	return fsys
}

func testLogger() logger.Logger { return logger.New(nil).Log("test") }

func TestUnpackDecompressesAndChecks(t *testing.T) {
	dir := t.TempDir()
	if err := unpack(embeddedFS(t), testLogger(), dir); err != nil {
		t.Fatal(err)
	}
	for _, arch := range Arches {
		name := BinaryName(arch)
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, fakeBinary(arch)) {
			t.Fatalf("%s: %d bytes, %v; want the decompressed binary", name, len(got), err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, name)); fi.Mode().Perm() != 0o755 {
			t.Errorf("%s mode %v", name, fi.Mode())
		}
		sum, _ := os.ReadFile(filepath.Join(dir, name+".sha256"))
		if want := digest(fakeBinary(arch)) + "  " + name + "\n"; string(sum) != want {
			t.Errorf("%s.sha256 = %q, want %q (the decompressed binary's)", name, sum, want)
		}
	}
	digests, err := embeddedDigests(embeddedFS(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range Arches {
		if digests[arch] != digest(fakeBinary(arch)) {
			t.Errorf("pinned digest %s = %q, want the decompressed binary's", arch, digests[arch])
		}
	}
}

func TestUnpackRefusesDamagedBlob(t *testing.T) {
	const arch = "arm64" // the second: amd64 is unpacked first
	blob := "embedded/" + compressedName(arch)
	sha := "embedded/" + BinaryName(arch) + ".sha256"
	cases := []struct {
		name   string
		damage func(fstest.MapFS)
		want   string
	}{
		{"truncated", func(f fstest.MapFS) { f[blob].Data = f[blob].Data[:len(f[blob].Data)/2] }, compressedName(arch) + " is corrupt"},
		{"cut before the trailer", func(f fstest.MapFS) { f[blob].Data = f[blob].Data[:len(f[blob].Data)-4] }, compressedName(arch) + " is corrupt"},
		{"not gzip", func(f fstest.MapFS) { f[blob].Data = fakeBinary(arch) }, compressedName(arch) + " is corrupt"},
		{"flipped byte", func(f fstest.MapFS) {
			d := bytes.Clone(f[blob].Data)
			d[len(d)/2] ^= 0x40
			f[blob].Data = d
		}, compressedName(arch) + " is corrupt"},
		{"digest mismatch", func(f fstest.MapFS) {
			f[sha].Data = []byte(digest(fakeBinary("amd64")) + "  " + BinaryName(arch) + "\n")
		}, "is not the " + digest(fakeBinary("amd64")) + " of " + BinaryName(arch) + ".sha256"},
		{"blob of the other arch", func(f fstest.MapFS) { f[blob].Data = f["embedded/"+compressedName("amd64")].Data }, "of " + BinaryName(arch) + ".sha256"},
		{"no digest file", func(f fstest.MapFS) { delete(f, sha) }, compressedName(arch) + " has no digest"},
		{"empty digest file", func(f fstest.MapFS) { f[sha].Data = nil }, BinaryName(arch) + ".sha256 holds no SHA-256"},
		{"not embedded", func(f fstest.MapFS) { delete(f, blob) }, BinaryName(arch) + " was not embedded"},
		{"empty blob", func(f fstest.MapFS) { f[blob].Data = nil }, BinaryName(arch) + " was not embedded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := embeddedFS(t)
			tc.damage(fsys)
			dir := t.TempDir()
			err := unpack(fsys, testLogger(), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("unpack: %v; want an error with %q", err, tc.want)
			}
			t.Log(err)
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), BinaryName(arch)) || strings.HasPrefix(e.Name(), ".") {
					t.Errorf("unpack left %s behind", e.Name())
				}
			}
			// The pinned digests: a damaged blob fails define too; a
			// missing one is left unpinned.
			digests, err := embeddedDigests(fsys)
			if strings.Contains(tc.want, "was not embedded") {
				if err != nil || digests[arch] != "" || digests["amd64"] == "" {
					t.Fatalf("digests %v, %v; want amd64 pinned only", digests, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("embeddedDigests: %v, %v; want an error with %q", digests, err, tc.want)
			}
		})
	}
}
