// Package runtime holds what monsta's plug-ins and its engine agree on: the
// contract (Check, Notifier, Hooks, Sender, CheckResult, Message), the
// descriptors and the Registry of check and notifier types, option
// resolution (the Resolver and its Plan of TestSpecs), the hold vocabulary
// (Gate, Hold) and RunCheck, which runs one check under its deadline.
//
// Built-in (Go) and Lua types register the same Descriptor into one
// Registry; the runtime never knows which language a type is written in.
// The scheduler, escalation and dispatch live in runtime/engine, which
// plug-ins never import.
package runtime
