// Package runtime owns monsta's behaviour between configuration and probes:
// the registry of check and notifier types, option resolution, the
// scheduler, test evaluation, escalation and notification dispatch.
//
// Built-in (Go) and Lua types register the same Descriptor into one
// Registry; the runtime never knows which language a type is written in.
package runtime
