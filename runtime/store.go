package runtime

// StateSaver persists a test's state whenever its streak changes, so that
// an escalation survives a restart or a kill -9.
type StateSaver interface {
	SaveTest(name string, st TestState) error
}

// Outbox keeps notifications on stable storage from before the first
// delivery attempt until they are delivered or given up.
type Outbox interface {
	// Put stores m for the notification and returns its id.
	Put(notification string, m Message) (id string, err error)
	// Delete forgets a delivered message.
	Delete(notification, id string) error
	// Fail moves a message that will not be delivered aside, with the reason,
	// where an admin can see it.
	Fail(notification, id, reason string) error
}

// Pending is a message found in the outbox at start-up.
type Pending struct {
	Notification string
	ID           string
	Message      Message
}
