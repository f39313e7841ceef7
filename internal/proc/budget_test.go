package proc

import (
	"context"
	"errors"
	"testing"

	"github.com/monsta/monsta/internal/fdlimit"
)

// TestRunBudget: without descriptors left in fdlimit.Checks a command is
// not started, and a run gives its descriptors back. It is not parallel:
// the budget is the process's.
func TestRunBudget(t *testing.T) {
	b := fdlimit.Checks()
	old := b.Size()
	t.Cleanup(func() { b.Resize(old) })
	b.Resize(b.InUse() + 1) // one short of the two a run takes
	st, err := Run(context.Background(), []string{"echo", "hi"}, NewOutput(64))
	var se *StartError
	if st != nil || !errors.As(err, &se) || !errors.Is(err, fdlimit.ErrExhausted) {
		t.Fatalf("Run() with the budget spent = %v, %v; want a *StartError for %v", st, err, fdlimit.ErrExhausted)
	}
	if want := "start echo: descriptor budget exhausted"; err.Error() != want {
		t.Errorf("Run() error = %q, want %q", err, want)
	}
	b.Resize(b.InUse() + 2)
	before := b.InUse()
	out := NewOutput(64)
	if _, err := Run(context.Background(), []string{"echo", "hi"}, out); err != nil || out.String() != "hi\n" {
		t.Fatalf("Run() = %q, %v; want \"hi\\n\", nil", out, err)
	}
	if got := b.InUse(); got != before {
		t.Errorf("InUse() after the run = %d, want %d", got, before)
	}
}
