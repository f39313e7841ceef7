// Package builtins holds monsta's check and notifier types written in Go.
// Each type is one file with its descriptor and its test; Register is the
// one list of them.
package builtins

import (
	"fmt"
	"log/slog"

	"github.com/monsta/monsta/runtime"
)

// Env is what the daemon hands to the built-in types that need more than
// their options.
type Env struct {
	// Logger receives what the log notifier writes; nil discards it.
	Logger *slog.Logger
}

// logger returns env's logger, or one that discards everything.
func (env Env) logger() *slog.Logger {
	if env.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return env.Logger
}

// descriptors is the one list of built-in types.
func descriptors(env Env) []runtime.Descriptor {
	return []runtime.Descriptor{
		portconnectDescriptor(),
		scriptDescriptor(),
		logDescriptor(env),
		dnslookupDescriptor(),
		dnsserialDescriptor(),
		xmppDescriptor(),
		clickatellDescriptor(),
		webhookDescriptor(),
		smtpCheckDescriptor(),
		smtpNotifierDescriptor(),
		mailboxCheckDescriptor(),
		diskDescriptor(),
		loadDescriptor(),
		memoryDescriptor(),
		fileDescriptor(),
		httpDescriptor(),
		tlsCheckDescriptor(),
		processDescriptor(),
		pingDescriptor(),
		alertmanagerDescriptor(),
	}
}

// Register adds every built-in type to r; env carries the daemon's logger.
func Register(r *runtime.Registry, env Env) error {
	for _, d := range descriptors(env) {
		if err := r.Add(d); err != nil {
			return fmt.Errorf("builtin: %w", err)
		}
	}
	return nil
}
