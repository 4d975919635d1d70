package params

// Size limits on esxi/manage-users input. They keep a mistaken or hostile
// Param from exhausting the DRP server or the task runner; real lists are a
// few dozen entries.
const (
	// MaxInputBytes is the largest accepted document (1 MiB).
	MaxInputBytes = 1 << 20
	// MaxEntries is the largest accepted number of entries.
	MaxEntries = 10000
	// MaxIDBytes bounds a user name. ESXi documents no maximum (see
	// validate.go); 32 is Linux's useradd limit (UT_NAMESIZE) and ESXi's
	// userworld is POSIX, so longer names are refused here rather than by
	// the host half-way through a run.
	MaxIDBytes = 32
	// MaxDescriptionBytes bounds a description (the account's GECOS field).
	MaxDescriptionBytes = 256
	// MaxPasswordBytes is passwdqc's absolute limit: longer passwords are
	// always "too long" (passwdqc_check.c).
	MaxPasswordBytes = 10000
	// MaxIgnoreListEntries bounds the ignore list.
	MaxIgnoreListEntries = 1000
)
