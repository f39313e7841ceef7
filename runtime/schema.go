package runtime

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/monsta/monsta/config"
)

// Schema declares the options of a kind of section that is not a type:
// [main], [Test_*], and the ones still to come (such as [Maintenance_*]).
// Its options resolve like a type's (built-in default, then the section,
// each value with its position), without type=, [TYPE_default] sections or
// constructors.
type Schema struct {
	// Unknown is how a warning names a key the schema does not declare,
	// e.g. "unknown option in [main]".
	Unknown string
	Options []Option
	idx     map[string]int
	decl    *declared
}

// NewSchema returns the schema of opts. The options follow the rules of a
// descriptor's (unique names, help text, defaults that parse); a test of
// each schema checks them, so nothing is validated at start-up.
func NewSchema(unknown string, opts ...Option) *Schema {
	s := &Schema{Unknown: unknown, Options: opts, idx: make(map[string]int, len(opts))}
	for i, o := range opts {
		s.idx[o.Name] = i
	}
	s.decl = s.newDeclared()
	return s
}

// Main is the resolved [main] section.
type Main struct {
	Daemonize           bool
	User, Group         string
	PidFile             string
	LogFile             string
	LogFormat           string // text or json
	LogLevel            string // debug, info, warn, error
	StateDir            string
	MaxConcurrentChecks int
	// MaxProcs, MemoryLimit and GCPercent tune the Go runtime (GOMAXPROCS,
	// the soft memory limit in bytes, GOGC); 0 leaves the runtime's
	// default and the environment's setting.
	MaxProcs    int
	MemoryLimit int64
	GCPercent   int
	LuaExec     bool
	Hostname    string      // used in messages; default os.Hostname()
	Retry       RetryPolicy // how failed notifications are retried
	Listen      string      // HOST:PORT of the HTTP API; empty: off
	TokenFile   string      // file holding the bearer token for changes over TCP
	// Uplink is the test every other test depends on ("" none); UplinkPos
	// is where it was set, for errors about it.
	Uplink    string
	UplinkPos config.Pos
	// GroupWindow, when above 0, merges the messages queued for one
	// notification within it after the first into one digest.
	GroupWindow time.Duration
	// Flap is the flap detection of tests that do not set their own.
	Flap FlapPolicy
	// Shard is this instance's share of the tests ([main] shard); zero:
	// all of them.
	Shard Shard
	// StopTimeout bounds how long a stop waits for running checks and
	// queued notifications before it abandons them.
	StopTimeout time.Duration
	// History is what the history store keeps and how reports count.
	History HistoryPolicy
}

// HistoryPolicy is the [main] history keys: whether the history store
// (STATEDIR/history.db) is kept, how long, and how its reports count.
type HistoryPolicy struct {
	On        bool
	Retention time.Duration // ledger, sessions and coarse buckets
	Recent    int           // the last runs kept per test
	// Maintenance is how reports count maintenance time: "exclude"
	// (neither up nor down), "up" or "down".
	Maintenance string
	// Location is where reports' days and months begin (history_timezone).
	Location *time.Location
}

// mainSchema declares the keys of [main].
var mainSchema = NewSchema("unknown option in [main]",
	Option{Name: "daemonize", Default: "0", Parse: Bool, Help: "Detach from the terminal and write a pid file (1 or 0)."},
	Option{Name: "user", Default: "nobody", Help: "User to run as after start-up when started as root."},
	Option{Name: "group", Default: "nogroup", Help: "Group to run as after start-up when started as root."},
	Option{Name: "pidfile", Default: "/run/monsta/monsta.pid", Help: "Pid file, written when daemonized or started by systemd and removed at exit; its directory is created for the daemon's user."},
	Option{Name: "logfile", Help: "File to log to; empty logs to stderr (to /var/log/monsta.log when daemonized)."},
	Option{Name: "log_format", Default: "text", Parse: OneOf("text", "json"), Help: "Log format: text or json."},
	Option{Name: "log_level", Default: "info", Parse: OneOf("debug", "info", "warn", "error"), Help: "Lowest level logged."},
	Option{Name: "statedir", Default: "/var/lib/monsta", Help: "Directory for failure counts and the notification outbox."},
	Option{Name: "max_concurrent_checks", Default: "1000", Parse: positiveInt, Help: "Most checks running at once."},
	Option{Name: "max_procs", Default: "0", Parse: Int, Help: "Threads the daemon runs Go code on at once (GOMAXPROCS); 0: GOMAXPROCS from the environment, else the CPUs Go would use."},
	Option{Name: "memory_limit", Default: "0", Parse: Size, Help: "Soft limit of the daemon's memory, such as 64M (the Go runtime's memory limit): near it the garbage collector runs more often; 0: none, or GOMEMLIMIT from the environment."},
	Option{Name: "gc_percent", Default: "0", Parse: Int, Help: "Garbage collection target (GOGC): the heap may grow by this percentage of the live data before a collection; lower saves memory and costs CPU; 0: GOGC from the environment, else 50 (Go's default is 100: 50 saves about an eighth of the memory at no measurable CPU cost for monsta's checks)."},
	Option{Name: "lua_exec", Default: "no", Parse: Bool, Help: "Allow Lua code to run commands with monsta.exec."},
	Option{Name: "strict", Default: "yes", Parse: Bool, Help: "An option no section type declares (a typo such as expcet), and a section repeated in one file, are errors (yes), or only warnings (no: for a configuration that must carry keys monsta does not know)."},
	Option{Name: "hostname", Help: "Host name shown in messages; empty: the system's."},
	Option{Name: "notify_retry_initial", Default: "5", Parse: AtLeastSeconds(MinInterval), Help: "Seconds (or 90s, 5m, 2h, 1d) (at least 1; or 90s, 5m, 2h, 1d) before the first retry of a failed notification; later waits double."},
	Option{Name: "notify_retry_max", Default: "300", Parse: AtLeastSeconds(MinInterval), Help: "Longest wait between two retries of a notification: seconds (at least 1), or 90s, 5m, 2h, 1d."},
	Option{Name: "notify_retry_for", Default: "86400", Parse: AtLeastSeconds(MinInterval), Help: "Seconds (or 90s, 5m, 2h, 1d) (at least 1; or 90s, 5m, 2h, 1d) after which a notification that still fails is given up and set aside."},
	Option{Name: "listen", Parse: hostPort, Help: "HOST:PORT to serve the HTTP API, metrics and status page on; empty: only the unix socket in statedir."},
	Option{Name: "token_file", Help: "File whose first line is the bearer token that changes over HTTP need; required when listen is not a loopback address."},
	Option{Name: "uplink", Help: "Test every other test depends on (a ping of the gateway, say): while it fails, only it pages."},
	Option{Name: "group_window", Default: "0", Parse: Seconds, Help: "Seconds (or 90s, 5m, 2h, 1d) after a first message in which further messages for the same notification are merged into one digest (0: off)."},
	Option{Name: "shard", Parse: parseShard, Help: "K/N: run only the tests that rendezvous hashing of their names gives to shard K of N instances (and the tests those depend on); empty: every test."},
	Option{Name: "flap_detection", Default: "no", Parse: Bool, Help: "Detect flapping tests (Nagios' weighted state changes over the last 21 runs) and hold their pages while they flap."},
	Option{Name: "flap_high", Default: "50", Parse: Percent, Help: "Percent state change at which a test starts flapping."},
	Option{Name: "flap_low", Default: "25", Parse: Percent, Help: "Percent state change at or below which a flapping test stops flapping."},
	Option{Name: "stop_timeout", Default: "5", Parse: Seconds, Help: "Seconds a stop (SIGTERM, SIGINT) waits for running checks and queued notifications; then runs are cancelled and undelivered notifications stay in the outbox for the next start."},
	Option{Name: "history", Default: "yes", Parse: Bool, Help: "Keep the history of every test (state changes, holds, pages, response times) in statedir/history.db, for uptime, SLA reports and the status page's bars (yes or no)."},
	Option{Name: "history_retention", Default: "90d", Parse: parseRetention, Help: "How long the history keeps state changes, sessions and hourly aggregates: a duration of at least 1d, such as 90d."},
	Option{Name: "history_recent", Default: "50", Parse: positiveInt, Help: "How many of each test's last runs the history keeps in full."},
	Option{Name: "history_maintenance", Default: "exclude", Parse: OneOf("exclude", "up", "down"), Help: "How uptime counts maintenance windows: exclude (neither up nor down), up or down."},
	Option{Name: "history_timezone", Parse: parseTimezone, Help: "Time zone whose days and months reports and the status page's bars count in, such as Europe/Berlin; empty: the local one."},
)

// parseRetention parses history_retention: a duration of at least a day.
func parseRetention(s string) (any, error) {
	d, err := ParseDuration(s)
	if err != nil {
		return nil, err
	}
	if d < 24*time.Hour {
		return nil, fmt.Errorf("%q: must be at least 1d", s)
	}
	return d, nil
}

// parseTimezone parses a time zone name into a *time.Location; empty is
// the local zone.
func parseTimezone(s string) (any, error) {
	tz := strings.TrimSpace(s)
	if tz == "" {
		return time.Local, nil
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", tz)
	}
	return l, nil
}

// parseSLA parses a test's sla: a percentage above 0 and at most 100.
func parseSLA(s string) (any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	v, err := Percent(s)
	if err != nil {
		return nil, err
	}
	if v.(float64) <= 0 {
		return nil, fmt.Errorf("%q: an SLA target must be above 0%%", s)
	}
	return v, nil
}

// MainOptions returns the keys of [main] with their defaults and help, for
// generated documentation.
func MainOptions() []Option { return slices.Clone(mainSchema.Options) }

// newMain builds Main from the resolved [main]. Relative paths are taken
// relative to base, the directory of the main configuration file.
func newMain(o *Options, base string) Main {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	return Main{
		Daemonize:           o.Bool("daemonize"),
		User:                o.String("user"),
		Group:               o.String("group"),
		PidFile:             abs(o.String("pidfile")),
		LogFile:             abs(o.String("logfile")),
		LogFormat:           o.String("log_format"),
		LogLevel:            o.String("log_level"),
		StateDir:            abs(o.String("statedir")),
		MaxConcurrentChecks: o.Int("max_concurrent_checks"),
		MaxProcs:            o.Int("max_procs"),
		MemoryLimit:         o.Value("memory_limit").(int64),
		GCPercent:           o.Int("gc_percent"),
		LuaExec:             o.Bool("lua_exec"),
		Hostname:            o.String("hostname"),
		Listen:              o.String("listen"),
		TokenFile:           abs(o.String("token_file")),
		Uplink:              strings.TrimPrefix(strings.TrimSpace(o.String("uplink")), "Test_"),
		UplinkPos:           o.Pos("uplink"),
		GroupWindow:         o.Duration("group_window"),
		Shard:               o.Value("shard").(Shard),
		StopTimeout:         o.Duration("stop_timeout"),
		History: HistoryPolicy{
			On:          o.Bool("history"),
			Retention:   o.Duration("history_retention"),
			Recent:      o.Int("history_recent"),
			Maintenance: o.String("history_maintenance"),
			Location:    o.Value("history_timezone").(*time.Location),
		},
		Flap: FlapPolicy{On: o.Bool("flap_detection"), High: o.Value("flap_high").(float64), Low: o.Value("flap_low").(float64)},
		Retry: RetryPolicy{
			First:  o.Duration("notify_retry_initial"),
			Max:    o.Duration("notify_retry_max"),
			MaxAge: o.Duration("notify_retry_for"),
		},
	}
}

// hostPort checks a HOST:PORT listen address; empty is allowed (off).
func hostPort(s string) (any, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not HOST:PORT", s)
	}
	if _, err := Port(port); err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	return s, nil
}

// loopbackAddr tells whether HOST:PORT accepts only local connections; an
// empty host means every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkListen refuses an HTTP listener other hosts can reach without a
// token for changes.
func checkListen(probs *config.Problems, o *Options) bool {
	if l := o.String("listen"); l != "" && o.String("token_file") == "" && !loopbackAddr(l) {
		probs.Addf(o.Pos("listen"), "main", "listen", "%s is reachable from other hosts; set token_file, or listen on 127.0.0.1", l)
		return false
	}
	return true
}

func positiveInt(s string) (any, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%q is not a whole number of at least 1", s)
	}
	return n, nil
}

// testSchema declares the keys of a [Test_*] section.
var testSchema = NewSchema("unknown option for a test",
	Option{Name: "checks", Required: true, Parse: Words, Help: "Space-separated check names, without the Check_ prefix."},
	Option{Name: "interval", Default: "300", Parse: AtLeastSeconds(MinInterval), Help: "Seconds (or 90s, 5m, 2h, 1d) (at least 1; or 90s, 5m, 2h, 1d) from the start of one run to the start of the next."},
	Option{Name: "requires", Default: "all", Parse: OneOf("all", "any"), Help: "all: every check must pass; any: one passing check suffices."},
	Option{Name: "notify", Parse: parseNotify, Help: "Escalation: blocks N:name1,name2 separated by spaces; level 0 fires on every run."},
	Option{Name: "recovery", Default: "yes", Parse: Bool, Help: "Send a recovery message to everyone notified during a failure streak."},
	Option{Name: "renotify", Default: "0", Parse: Seconds, Help: "While failing, repeat the highest level reached at this interval: seconds, or 90s, 5m, 2h, 1d (0: off)."},
	Option{Name: "description", Help: "Free text shown in messages."},
	Option{Name: "depends", Parse: Words, Help: "Tests this one depends on, without the Test_ prefix: while one of them fails, this test is UNREACHABLE and pages nobody."},
	Option{Name: "recover_after", Default: "1", Parse: positiveInt, Help: "Consecutive passing runs before a failing test counts as recovered."},
	Option{Name: "flap_detection", Parse: optional(Bool), Help: "Detect flapping for this test (yes or no); empty: as [main] flap_detection."},
	Option{Name: "flap_high", Parse: optional(Percent), Help: "Percent state change at which this test starts flapping; empty: as [main]."},
	Option{Name: "flap_low", Parse: optional(Percent), Help: "Percent state change at or below which this test stops flapping; empty: as [main]."},
	Option{Name: "sla", Parse: parseSLA, Help: "Uptime target in percent, such as 99.9: the status page and reports show the error budget left this month; empty: none."},
)

// optional wraps parse so that an empty value parses to nil ("not set",
// take the value from elsewhere).
func optional(parse func(string) (any, error)) func(string) (any, error) {
	return func(s string) (any, error) {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		return parse(s)
	}
}

// Level is one block of a test's notify option: at this failure count
// notify these notifications.
type Level struct {
	Level int
	Names []string
}

func parseNotify(s string) (any, error) {
	var levels []Level
	seen := map[int]int{}
	blks := strings.Fields(s)
	for i, blk := range blks {
		if err := spaceInBlock(blks, i); err != nil {
			return nil, err
		}
		n, list, err := parseLevel(blk)
		if err != nil {
			return nil, err
		}
		if err := repeatedName(levels, seen, n, list, blk); err != nil {
			return nil, err
		}
		if i, dup := seen[n]; dup {
			levels[i].Names = append(levels[i].Names, list...)
			continue
		}
		seen[n] = len(levels)
		levels = append(levels, Level{Level: n, Names: list})
	}
	sort.Slice(levels, func(i, j int) bool { return levels[i].Level < levels[j].Level })
	return levels, nil
}

// repeatedName reports a notification that blk (level n, names list)
// names again at that level ("1:a 1:a", "1:a,a"): it would not be sent
// twice, so one of the two is a mistake (a wrong level or a wrong name).
// levels and seen are the levels parsed so far, seen by level.
func repeatedName(levels []Level, seen map[int]int, n int, list []string, blk string) error {
	var before []string
	if i, ok := seen[n]; ok {
		before = levels[i].Names
	}
	for j, nm := range list {
		if slices.Contains(before, nm) || slices.Contains(list[:j], nm) {
			return fmt.Errorf("%q: notification %s is named twice at level %d", blk, nm, n)
		}
	}
	return nil
}

// spaceInBlock reports a space inside a LEVEL:name,name block, the one
// between blks[i] and blks[i+1] ("1:log, log2", "1: log", "1:log ,log2"),
// which would make the rest a block of its own.
func spaceInBlock(blks []string, i int) error {
	if i+1 >= len(blks) {
		return nil
	}
	a, b := blks[i], blks[i+1]
	var at string
	switch {
	case strings.HasSuffix(a, ",") || strings.HasSuffix(a, ":"):
		at = "after " + strconv.Quote(a[len(a)-1:])
	case strings.HasPrefix(b, ","):
		at = `before ","`
	default:
		return nil
	}
	return fmt.Errorf("%q: space %s; write the names of one level without spaces: %s", a+" "+b, at, a+b)
}

// parseLevel parses one LEVEL:name[,name…] block of notify.
func parseLevel(blk string) (int, []string, error) {
	lv, names, ok := strings.Cut(blk, ":")
	if !ok {
		return 0, nil, fmt.Errorf("%q: expected LEVEL:name[,name…]", blk)
	}
	n, err := strconv.Atoi(lv)
	if err != nil || n < 0 {
		return 0, nil, fmt.Errorf("%q: level %q is not a whole number", blk, lv)
	}
	var list []string
	for _, nm := range strings.Split(names, ",") {
		if nm = strings.TrimSpace(nm); nm != "" {
			list = append(list, strings.TrimPrefix(nm, "Notification_"))
		}
	}
	if len(list) == 0 {
		return 0, nil, fmt.Errorf("%q: no notification named", blk)
	}
	return n, list, nil
}

// TestSpec is one resolved [Test_NAME] section.
type TestSpec struct {
	Name       string // without the Test_ prefix
	Pos        config.Pos
	Checks     []*CheckSpec
	Interval   time.Duration
	RequireAll bool
	Notify     []Level
	Recovery   bool
	Renotify   time.Duration // 0: off
	// EveryRun are the notifications of Notify whose type wants every
	// failing run once their level is reached (Descriptor.EveryRun).
	EveryRun []string
	// Depends are the tests this one depends on, as configured (the
	// uplink, which every other test depends on, is not among them).
	Depends []string
	// RecoverAfter is how many passing runs in a row end a failure streak.
	RecoverAfter int
	Flap         FlapPolicy
	// SLA is the uptime target in percent (sla=99.9); 0: none.
	SLA float64
	// Instances holds one built check per entry of Checks. The runtime never
	// overlaps runs of one instance, so a check that several tests use has
	// an instance per test.
	Instances []Check
}
