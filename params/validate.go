package params

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"

	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// ValidateID checks a user name against ESXi's rules for local accounts.
//
// Sources:
//   - VMware Host Client, "Add a User to the Host" (vSphere 6.7/7.0/8.0):
//     no spaces, no non-ASCII characters, and do not create a user named
//     "ALL" (it breaks privilege evaluation).
//   - vSphere API reference, HostLocalAccountManager: POSIX hosts may
//     disallow ";" and "\n" and may restrict names further; violations are
//     answered with InvalidArgument.
//   - ESXi keeps local accounts in /etc/passwd ("root:x:0:0:Administrator:/:
//     /bin/sh"), so ":" (the field separator) cannot be part of a name, and
//     control characters are meaningless there.
//
// No maximum length is documented; MaxIDBytes is this project's limit.
func ValidateID(id string) error {
	switch {
	case id == "":
		return errors.New("is empty")
	case len(id) > MaxIDBytes:
		return fmt.Errorf("is %d bytes; the limit is %d", len(id), MaxIDBytes)
	case strings.EqualFold(id, "ALL"):
		return errors.New(`"ALL" is reserved by ESXi`)
	}
	for i, r := range []rune(id) {
		switch {
		case r == utf8.RuneError:
			return fmt.Errorf("has a byte that is not UTF-8 (character %d)", i+1)
		case r >= utf8.RuneSelf:
			return fmt.Errorf("has %s (character %d): ESXi user names are ASCII", RuneName(r), i+1)
		case r == ' ' || r == '\t':
			return fmt.Errorf("has %s (character %d): ESXi user names have no blanks", RuneName(r), i+1)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("has a control character, U+%04X (character %d)", r, i+1)
		case r == ':' || r == ';':
			return fmt.Errorf("has %q (character %d), which ESXi user names cannot contain", r, i+1)
		}
	}
	return nil
}

// ValidateDescription checks an account description (stored as the GECOS
// field of /etc/passwd on ESXi): UTF-8, no ":" and no control characters.
func ValidateDescription(d string) error {
	if len(d) > MaxDescriptionBytes {
		return fmt.Errorf("is %d bytes; the limit is %d", len(d), MaxDescriptionBytes)
	}
	if !utf8.ValidString(d) {
		return errors.New("is not valid UTF-8")
	}
	for _, r := range d {
		if r < 0x20 || r == 0x7f {
			return errors.New("has a control character")
		}
		if r == ':' {
			return errors.New(`has ":", which cannot be stored in an ESXi account description`)
		}
	}
	return nil
}

// ValidatePassword checks that a password is passed to the host exactly as
// written and can be typed at a login prompt: valid UTF-8, no control
// character (C0 U+0000–U+001F, DEL U+007F, C1 U+0080–U+009F) and no U+FFFD.
// Its messages never show the password or any of its characters, only
// where a fix is likely:
//   - a final line break is what a YAML "|" block scalar adds;
//   - U+FFFD is what a decoder puts in place of something it could not
//     carry (a NUL, an escape such as a lone "\ud800", bytes that are not
//     UTF-8): the host would get another password than the one written.
func ValidatePassword(p Password) error {
	s := p.Reveal()
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if strings.HasSuffix(s, "\n") {
		return errors.New("ends with a line break, which nobody can type at a login prompt: a YAML `|` block keeps the final newline; use `|-` or a quoted string")
	}
	for _, r := range s {
		if isControl(r) {
			return errors.New("has a control character (C0, C1 or DEL; not shown), which nobody can type at a login prompt: remove it")
		}
		if r == utf8.RuneError {
			return errors.New("has U+FFFD, the replacement character, which stands for something the input could not carry (a NUL, an escape such as a lone \\ud800, bytes that are not UTF-8): the host would get another password than the one written")
		}
	}
	return nil
}

// isControl reports a C0 control, DEL or a C1 control.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// operations and roles are the values an entry's operation and role may
// take, in documentation order: the validator's rules (esxi_operation,
// esxi_role) and the messages are built from them.
var (
	operations = []string{string(OpAdd), string(OpSet), string(OpRemove)}
	roles      = []string{string(RoleAdmin), string(RoleReadOnly), string(RoleNoAccess)}
)

// The project's validator tags, registered once by entryValidator.
const (
	tagID          = "esxi_id"          // ValidateID
	tagDescription = "esxi_description" // ValidateDescription
	tagPassword    = "esxi_password"    // ValidatePassword
	// Aliases of the validator's own rules, built from this package's
	// constants.
	tagOperation   = "esxi_operation"    // oneof the operations
	tagRole        = "esxi_role"         // oneof the roles
	tagWrites      = "esxi_writes"       // required when the operation is add or set
	tagPasswordLen = "esxi_password_len" // at most MaxPasswordBytes
)

// rules is what the validator sees of an entry, each field with its rules.
// The password is there for its own rule (tagPassword) and as its length
// for the others; no message reads a FieldError's Value (describe builds
// them from the entry's non-secret fields), so a password cannot reach one.
// Errors come in field order: the password's characters first.
type rules struct {
	Password    Password `validate:"esxi_password"`
	ID          string   `validate:"required,esxi_id"`
	Operation   string   `validate:"required,esxi_operation"`
	Description string   `validate:"esxi_description"`
	PasswordLen int      `validate:"esxi_writes,esxi_password_len"`
	Role        string   `validate:"esxi_writes,omitempty,esxi_role"`
}

var (
	validateOnce sync.Once
	validate     *validator.Validate
)

func entryValidator() *validator.Validate {
	validateOnce.Do(func() {
		validate = validator.New(validator.WithRequiredStructEnabled())
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		must(validate.RegisterValidation(tagID, func(fl validator.FieldLevel) bool {
			return ValidateID(fl.Field().String()) == nil
		}))
		must(validate.RegisterValidation(tagDescription, func(fl validator.FieldLevel) bool {
			return ValidateDescription(fl.Field().String()) == nil
		}))
		must(validate.RegisterValidation(tagPassword, func(fl validator.FieldLevel) bool {
			p, ok := fl.Field().Interface().(Password)
			return ok && ValidatePassword(p) == nil
		}))
		validate.RegisterAlias(tagOperation, "oneof="+strings.Join(operations, " "))
		validate.RegisterAlias(tagRole, "oneof="+strings.Join(roles, " "))
		validate.RegisterAlias(tagWrites, fmt.Sprintf("required_if=Operation %s,required_if=Operation %s", OpAdd, OpSet))
		validate.RegisterAlias(tagPasswordLen, fmt.Sprintf("max=%d", MaxPasswordBytes))
	})
	return validate
}

// ValidateEntry applies the esxi/manage-users rules to one entry and returns
// its problems (Parse does it for every entry of a list):
//   - operation is add, set or remove;
//   - add and set need id, password and role; remove needs id (a password,
//     role or description on a remove entry is not used, but must still be
//     well-formed, as the Param's JSON Schema says); an entry whose
//     operation is none of these is missing no field (its operation is
//     what is wrong);
//   - role is exactly Admin, ReadOnly or NoAccess (near misses get a hint);
//   - id follows ESXi's user-name rules (ValidateID);
//   - description fits an ESXi account (ValidateDescription);
//   - a password is at most MaxPasswordBytes, and holds no control
//     character and no U+FFFD (ValidatePassword).
//
// The rules are the validator's (the tags of rules); the messages are
// describe's. Password complexity against the host's policy is checked by
// the engine, which knows the host.
func ValidateEntry(e Entry) []*EntryError {
	r := rules{Password: e.Password, ID: e.ID, Operation: string(e.Operation), Description: e.Description, PasswordLen: e.Password.Len(), Role: string(e.Role)}
	err := entryValidator().Struct(r)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return []*EntryError{newEntryError(e, "", "could not be validated: "+err.Error())}
	}
	out := make([]*EntryError, 0, len(verrs))
	for _, fe := range verrs {
		field, msg := describe(e, fe)
		out = append(out, newEntryError(e, field, msg))
	}
	return out
}

func newEntryError(e Entry, field, msg string) *EntryError {
	return &EntryError{Index: e.Index, Line: e.Line, ID: e.ID, Operation: e.Operation, Field: field, Msg: msg}
}

// describe is where every message of ValidateEntry is made: it turns a
// validator error into the field at fault and what is wrong with it, built
// from the entry's non-secret fields and the rules' own values. It never
// calls fe.Value(), which may hold the password.
func describe(e Entry, fe validator.FieldError) (field, msg string) {
	op := string(e.Operation)
	switch fe.StructField() {
	case "Password":
		return FieldPassword, "password " + ValidatePassword(e.Password).Error()
	case "ID":
		if fe.Tag() == "required" {
			return FieldID, "id is required"
		}
		return FieldID, fmt.Sprintf("id %s", ValidateID(e.ID))
	case "Operation":
		if fe.Tag() == "required" {
			return FieldOperation, fmt.Sprintf("operation is required (%s)", orList(operations))
		}
		return FieldOperation, fmt.Sprintf("operation %q is not one of %s%s", textsafe.Clip(op), strings.Join(operations, ", "), hint(op, operations))
	case "Description":
		return FieldDescription, fmt.Sprintf("description %s", ValidateDescription(e.Description))
	case "PasswordLen":
		if fe.Tag() == tagWrites {
			return FieldPassword, fmt.Sprintf("password is required for %s", op)
		}
		return FieldPassword, fmt.Sprintf("password is %d bytes; the limit is %d", e.Password.Len(), MaxPasswordBytes)
	case "Role":
		if fe.Tag() == tagWrites {
			return FieldRole, fmt.Sprintf("role is required for %s (%s)", op, orList(roles))
		}
		role := string(e.Role)
		return FieldRole, fmt.Sprintf("role %q is not one of %s%s", textsafe.Clip(role), strings.Join(roles, ", "), hint(role, roles))
	}
	return fe.Field(), fmt.Sprintf("%s is invalid", fe.Field())
}

// orList is "a, b or c".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// Parse decodes and validates a document: the usual entry point.
//
// Every problem is reported at once: entry-level decoding errors (unknown
// or duplicate keys, wrong types) and validation errors of all entries are
// merged into one *ListError, in list order.
func Parse(data []byte) ([]Entry, error) {
	if err := rawLineBreaks(data); err != nil {
		return nil, err
	}
	entries, err := Decode(data)
	var decodeErrs *ListError
	if err != nil && !errors.As(err, &decodeErrs) {
		return entries, err // the document as a whole is unusable
	}
	var all []*EntryError
	for _, e := range entries {
		if decodeErrs != nil {
			all = append(all, decodeErrs.ByIndex(e.Index)...)
		}
		all = append(all, ValidateEntry(e)...)
	}
	if len(all) > 0 {
		return entries, &ListError{Errs: all}
	}
	return entries, nil
}

// rawLineBreaks refuses U+0085 (NEL) written as is: YAML reads it as a line
// break and folds it into a space, so the value around it (a password) would
// silently change; after decoding nothing shows it was there. (U+2028 and
// U+2029 are kept as they are by the decoder; a NUL cannot be written raw,
// and "\0" or "\u0000" decode to a NUL, which ValidatePassword refuses.)
func rawLineBreaks(data []byte) error {
	const nel = "\u0085"
	i := bytes.Index(data, []byte(nel))
	if i < 0 {
		return nil
	}
	line := 1 + bytes.Count(data[:i], []byte("\n"))
	return &DocumentError{Line: line, Msg: "the input has the control character U+0085 (NEL) written as is; YAML reads it as a line break and changes the text around it (a password would not be the one written): remove it"}
}
