package builtins

import (
	"context"
	"log/slog"

	"github.com/monsta/monsta/runtime"
)

// logLevels maps the recipient of a log notification to a slog level.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

func logDescriptor(env Env) runtime.Descriptor {
	logger := env.logger()
	return runtime.Descriptor{
		Kind:        runtime.KindNotifier,
		Name:        "log",
		Description: "write the notification to the daemon's log",
		Help: "One entry per notification at the named level, with the message's short form; the long form " +
			"follows as an entry at debug, written only when the daemon logs at debug.",
		Options: []runtime.Option{
			{Name: "recipient", Required: true, Parse: runtime.OneOf("debug", "info", "warn", "error"),
				Help: "Log level of the entry: debug, info, warn or error."},
		},
		Example: `[Notification_logbook]
type = log
recipient = warn
`,
		NewNotifier: func(o *runtime.Options) (runtime.Notifier, error) {
			return &Log{logger: logger, level: logLevels[o.String("recipient")]}, nil
		},
	}
}

// Log writes every notification as one entry "notification" at its level
// carrying the short form, and the long form as a second entry at debug
// (written only when the daemon logs debug).
type Log struct {
	logger *slog.Logger
	level  slog.Level
}

// Verify implements runtime.Verifier: writing to the log needs no login.
func (l *Log) Verify(context.Context) error { return nil }

// LogsDelivery implements runtime.SelfLogging: the entry is the delivery.
func (l *Log) LogsDelivery() {}

// Notify implements runtime.Notifier.
func (l *Log) Notify(ctx context.Context, m runtime.Message) error {
	l.logger.LogAttrs(ctx, l.level, "notification",
		slog.String("test", m.Test),
		slog.String("state", string(m.State)),
		slog.Int("failures", m.Failures),
		slog.String("short", runtime.OneLine(m.Short)),
	)
	if m.Long != "" && l.logger.Enabled(ctx, slog.LevelDebug) {
		l.logger.LogAttrs(ctx, slog.LevelDebug, "notification details",
			slog.String("test", m.Test),
			slog.String("state", string(m.State)),
			slog.String("long", m.Long),
		)
	}
	return nil
}
