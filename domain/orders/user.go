package orders

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Domain errors of the commands people send (the HTTP layer maps them).
var (
	// ErrInvalid reports a command whose fields are not valid; the error
	// wrapping it says which.
	ErrInvalid = errors.New("orders: invalid")
	// ErrExists reports a creation of an aggregate that already exists.
	ErrExists = errors.New("orders: already exists")
	// ErrUnknownCommand reports a command an aggregate does not handle.
	ErrUnknownCommand = errors.New("orders: unknown command")
)

// User is the folded state of one user.
type User struct {
	ID, Name, Email string
	Exists          bool
	CreatedAt       time.Time
}

// Commands of a user.
type (
	// CreateUser registers a user: Name 1 to 200 characters, Email of the
	// shape local@domain.tld.
	CreateUser struct {
		UserID, Name, Email string
		Now                 time.Time
	}
	// ValidateUser is validate_user's action: does the user exist?
	ValidateUser struct{}
)

// ValidateUserFields reports, wrapping ErrInvalid, what is wrong with a
// user's name and email.
func ValidateUserFields(name, email string) error {
	var errs []error
	if n := utf8.RuneCountInString(strings.TrimSpace(name)); n < 1 || n > 200 {
		errs = append(errs, errors.New("name must have 1 to 200 characters"))
	}
	if !validEmail(email) {
		errs = append(errs, fmt.Errorf("email %q is not an address", email))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// validEmail accepts local@domain where the domain has a dot inside it,
// with no spaces and at most 254 bytes.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>,;") || strings.Contains(domain, "@") {
		return false
	}
	dot := strings.LastIndexByte(domain, '.')
	return dot > 0 && dot < len(domain)-1 && !strings.Contains(domain, "..")
}

// Decide returns the events cmd produces from u, or a domain error.
func (u User) Decide(cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case CreateUser:
		if u.Exists {
			return nil, fmt.Errorf("%w: user %s", ErrExists, u.ID)
		}
		if c.UserID == "" {
			return nil, fmt.Errorf("%w: no user id", ErrInvalid)
		}
		if err := ValidateUserFields(c.Name, c.Email); err != nil {
			return nil, err
		}
		return []Event{{UserCreatedV1, &UserCreated{UserID: c.UserID, Name: strings.TrimSpace(c.Name), Email: c.Email,
			CreatedAt: c.Now.UTC()}}}, nil
	case ValidateUser:
		return nil, nil
	default:
		return nil, fmt.Errorf("%w %T for a user", ErrUnknownCommand, cmd)
	}
}

// Answer returns the outcome of cmd for the saga, from u after cmd's
// events: ValidateUser succeeds with a UserOutput when the user exists and
// fails permanently otherwise.
func (u User) Answer(cmd any) Outcome {
	switch cmd.(type) {
	case ValidateUser:
		if !u.Exists {
			return permanent("unknown user")
		}
		return success(UserOutput{UserID: u.ID, Name: u.Name, Email: u.Email})
	default:
		return permanent(fmt.Sprintf("%s %T for a user", ErrUnknownCommand, cmd))
	}
}

// Evolve folds one event into u and returns the new state; u is unchanged.
func (u User) Evolve(eventType string, data any) User {
	if e, ok := data.(*UserCreated); ok {
		u.ID, u.Name, u.Email, u.Exists, u.CreatedAt = e.UserID, e.Name, e.Email, true, e.CreatedAt
	}
	return u
}
