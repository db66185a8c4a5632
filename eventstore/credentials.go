package eventstore

import (
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"
)

// Credentials authenticate a client to NATS. A credentials file (File)
// and a user with a password are the two forms; a user and password or a
// token written into the URL work too, without either.
type Credentials struct {
	// File is a NATS credentials file (a user JWT and its nkey seed).
	File string
	// User and Password are a NATS user's name and password (the embedded
	// server's, natsserver.Server, are of this form).
	User     string
	Password string
}

// natsOptions are the nats.go options for c.
func (c Credentials) natsOptions() []nats.Option {
	var opts []nats.Option
	if c.File != "" {
		opts = append(opts, nats.UserCredentials(c.File))
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	return opts
}

// RedactURL hides the secrets of a NATS URL or comma-separated URL list: a
// password becomes "xxxxx", and so does a user name alone (a token). Use it
// for anything logged or returned in an error.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = redactOne(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

func redactOne(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		// Unparseable: keep only what follows the last '@' (the host).
		return "xxxxx@" + s[strings.LastIndex(s, "@")+1:]
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		u.User = url.User("xxxxx")
	}
	return u.String()
}
