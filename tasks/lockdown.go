package tasks

// lockdownRefusal is filled in with lockdown mode (issue 18).
func (r *run) lockdownRefusal() string { return "" }
