package guestauth

// Released reports whether Release succeeded (or the server had already
// dropped the ticket).
func (t *Ticket) Released() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.released
}
