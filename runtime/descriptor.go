package runtime

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Kind tells check types from notifier types.
type Kind int

// The kinds of type.
const (
	KindCheck Kind = iota + 1
	KindNotifier
)

// String returns "check" or "notification", the words of the command line.
func (k Kind) String() string {
	switch k {
	case KindCheck:
		return "check"
	case KindNotifier:
		return "notification"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// SectionPrefix returns "Check_" or "Notification_".
func (k Kind) SectionPrefix() string {
	if k == KindNotifier {
		return "Notification_"
	}
	return "Check_"
}

// Option declares one INI key of a type.
type Option struct {
	Name     string // INI key, lower case
	Default  string // as written in INI; unused when Required
	Required bool
	// Secret values are never shown in logs, errors or help: Options.Redact
	// removes them in every wire form, paired for AUTH PLAIN and HTTP
	// Basic with the values of the type's options whose name contains
	// "user" or "login", or is "jid".
	Secret bool
	Parse  func(string) (any, error) // nil: the raw string
	// Quoted options read quotes themselves (a list whose items may hold
	// spaces): they get the value as written, outer quotes kept
	// (config.Key.Raw), where other options lose one pair of outer quotes.
	Quoted bool
	Help   string // one sentence ending in a period
	// fileOf names the secret option this one is the *_file twin of;
	// validate derives the twins (see secretfile.go).
	fileOf string
}

// Descriptor is everything monsta knows about a type: it generates --help,
// drives option resolution and builds instances.
type Descriptor struct {
	Kind        Kind
	Name        string   // the type= value
	Aliases     []string // other type= values, e.g. "email" for smtp
	Description string   // one line for listings
	Help        string   // optional paragraphs for --help
	Options     []Option
	Example     string // INI snippet; a test lints it
	Source      string // "builtin" or "conf.d/redis.lua:3"
	// EveryRun marks a notifier that tracks a state rather than paging
	// people (alertmanager): once its level is reached in a failure
	// streak it gets every later failing run too ("level N and above"),
	// and it always gets the recovery, whatever the test's recovery=.
	EveryRun bool

	NewCheck    func(o *Options) (Check, error)
	NewNotifier func(o *Options) (Notifier, error)
	// Deadline is the time a run of the check may take; nil means the
	// "timeout" option. Notifiers use it for sends (nil: 30 s).
	Deadline func(o *Options) time.Duration

	optIdx map[string]int
	decl   *declared // built by validate, shared by every section of the type
}

// DefaultNotifyTimeout bounds one delivery attempt of a notifier whose
// descriptor has no Deadline.
const DefaultNotifyTimeout = 30 * time.Second

// DefaultCheckTimeout is the timeout of a check type that declares none.
const DefaultCheckTimeout = "10"

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Option returns the declared option of that name.
func (d *Descriptor) Option(name string) (*Option, bool) {
	i, ok := d.optIdx[name]
	if !ok {
		return nil, false
	}
	return &d.Options[i], true
}

// DeadlineFor returns the time one run (or send) may take with these options.
func (d *Descriptor) DeadlineFor(o *Options) time.Duration {
	if d.Deadline != nil {
		return d.Deadline(o)
	}
	if _, ok := d.optIdx["timeout"]; ok {
		return o.Duration("timeout")
	}
	return DefaultNotifyTimeout
}

// validate checks the descriptor and builds its index. It adds the
// universal "timeout" option to check types that do not declare one.
func (d *Descriptor) validate() error {
	if err := d.checkHead(); err != nil {
		return err
	}
	if d.Source == "" {
		d.Source = "builtin"
	}
	if d.Kind == KindCheck && !slices.ContainsFunc(d.Options, func(o Option) bool { return o.Name == "timeout" }) {
		d.Options = append(d.Options, Option{Name: "timeout", Default: DefaultCheckTimeout, Parse: PositiveSeconds,
			Help: "Seconds (or 90s, 5m, 2h, 1d) a run may take before the check fails."})
	}
	d.Options = withSecretFiles(d.Options)
	d.optIdx = map[string]int{}
	seen := map[string]bool{}
	for i, o := range d.Options {
		if err := checkOption(o, seen); err != nil {
			return fmt.Errorf("%s type %q: %w", d.Kind, d.Name, err)
		}
		d.optIdx[o.Name] = i
	}
	d.decl = d.newDeclared()
	return nil
}

// checkHead checks the kind, names, description and constructors.
func (d *Descriptor) checkHead() error {
	if d.Kind != KindCheck && d.Kind != KindNotifier {
		return fmt.Errorf("type %q: kind not set", d.Name)
	}
	for _, n := range append([]string{d.Name}, d.Aliases...) {
		if !nameRE.MatchString(n) {
			return fmt.Errorf("%s type name %q: must match %s", d.Kind, n, nameRE)
		}
	}
	if d.Description == "" {
		return fmt.Errorf("%s type %q: no description", d.Kind, d.Name)
	}
	switch {
	case d.Kind == KindCheck && (d.NewCheck == nil || d.NewNotifier != nil):
		return fmt.Errorf("check type %q: needs NewCheck and no NewNotifier", d.Name)
	case d.Kind == KindNotifier && (d.NewNotifier == nil || d.NewCheck != nil):
		return fmt.Errorf("notification type %q: needs NewNotifier and no NewCheck", d.Name)
	}
	return nil
}

// checkOption checks one option declaration; seen holds the names before it.
func checkOption(o Option, seen map[string]bool) error {
	if !nameRE.MatchString(o.Name) {
		return fmt.Errorf("option name %q: must match %s", o.Name, nameRE)
	}
	if seen[o.Name] {
		return fmt.Errorf("option %q declared twice", o.Name)
	}
	seen[o.Name] = true
	if o.Help == "" {
		return fmt.Errorf("option %q has no help text", o.Name)
	}
	if o.Name == "timeout" && (o.Parse == nil || acceptsZero(o.Parse)) {
		// The timeout is the run's deadline (DeadlineFor); 0 would fail
		// every run at once.
		return errors.New(`option "timeout" must refuse 0 (parse it with PositiveSeconds)`)
	}
	if !o.Required && o.Default != "" && o.Parse != nil {
		if _, err := o.Parse(o.Default); err != nil {
			return fmt.Errorf("option %q: default %q: %w", o.Name, o.Default, err)
		}
	}
	return nil
}

func acceptsZero(parse func(string) (any, error)) bool {
	_, err := parse("0")
	return err == nil
}
