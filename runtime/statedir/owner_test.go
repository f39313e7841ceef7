package statedir

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tree makes dir/state/a.json, dir/outbox/n/b.json and a link inside.
func tree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sd")
	for _, p := range []string{"state", "outbox/n", "failed"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"state/a.json", "outbox/n/b.json"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("state/a.json", filepath.Join(dir, "inside")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// owners returns the uid of every entry below dir (links not followed).
func owners(t *testing.T, dir string) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Lstat(p)
		out[p] = fi.Sys().(*syscall.Stat_t).Uid
		return nil
	})
	return out
}

func TestOwnGivesEverythingToTheUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("Own changes owners: needs root")
	}
	t.Parallel()
	dir := tree(t)
	outside := filepath.Join(t.TempDir(), "outside")
	os.WriteFile(outside, nil, 0o600)
	if err := Own(dir, 65534, 65534); err != nil {
		t.Fatalf("Own() error = %v", err)
	}
	for p, uid := range owners(t, dir) {
		if uid != 65534 {
			t.Errorf("%s owned by %d after Own, want 65534", p, uid)
		}
	}
	// A link that leads out of the directory is refused, and its target
	// keeps its owner.
	if err := os.Symlink(outside, filepath.Join(dir, "state", "evil.json")); err != nil {
		t.Fatal(err)
	}
	err := Own(dir, 1, 1)
	if err == nil || !strings.Contains(err.Error(), "evil.json is a symbolic link that points outside") {
		t.Errorf("Own() with a link outside: error = %v", err)
	}
	if fi, _ := os.Stat(outside); fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the link's target outside changed owner")
	}
	for p, uid := range owners(t, dir) {
		if uid != 65534 && !strings.HasSuffix(p, "evil.json") {
			t.Errorf("refused, yet %s changed owner to %d", p, uid)
		}
	}
	os.Remove(filepath.Join(dir, "state", "evil.json"))
	// A directory that is not monsta's alone (statedir = /var/lib) keeps
	// its owners.
	if err := os.Mkdir(filepath.Join(dir, "dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = Own(dir, 1, 1)
	if err == nil || !strings.Contains(err.Error(), `holds the folder "dpkg", which is not monsta's`) {
		t.Errorf("Own() of a shared directory: error = %v", err)
	}
	for p, uid := range owners(t, dir) {
		if uid != 65534 && !strings.HasSuffix(p, "dpkg") {
			t.Errorf("%s changed owner to %d", p, uid)
		}
	}
	// A missing directory is created for the user.
	fresh := filepath.Join(t.TempDir(), "new", "sd")
	if err := Own(fresh, 1, 1); err != nil {
		t.Fatal(err)
	}
	if o := owners(t, fresh)[fresh]; o != 1 {
		t.Errorf("new directory owned by %d, want 1", o)
	}
}

func TestUsableNamesTheForeignEntry(t *testing.T) {
	t.Parallel()
	dir := tree(t)
	if err := Usable(dir, os.Geteuid()); err != nil {
		t.Errorf("Usable() by its owner: error = %v", err)
	}
	// Another user (not this process, so access(2) does not apply) can
	// use none of it.
	err := Usable(dir, os.Geteuid()+4242)
	if err == nil || !strings.Contains(err.Error(), "is owned by uid") || !strings.Contains(err.Error(), "sd is owned") {
		t.Errorf("Usable() by a stranger: error = %v", err)
	}
}

func TestExistingCreatesNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "missing")
	if f := Existing(dir).Failures(); len(f) != 0 {
		t.Errorf("Failures() = %v", f)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Existing created %s (%v)", dir, err)
	}
}
