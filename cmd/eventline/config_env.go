package main

import (
	"fmt"
	"strconv"
	"time"
)

// envReader reads typed EVENTLINE_* variables over a Config's defaults:
// an unset (empty) variable keeps the default, an unreadable one keeps it
// too and is reported in errs, every one of them, not only the first.
type envReader struct {
	getenv func(string) string
	errs   []error
}

func (e *envReader) text(name string, dst *string) {
	if v := e.getenv(name); v != "" {
		*dst = v
	}
}

func (e *envReader) number(name string, dst *int) {
	if v := e.getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: not a number", name, v))
			return
		}
		*dst = n
	}
}

func (e *envReader) duration(name string, dst *time.Duration) {
	e.parsed(name, func(v string) error {
		d, err := time.ParseDuration(v)
		if err == nil {
			*dst = d
		}
		return err
	})
}

// parsed calls parse with the variable's value when it is set; parse sets
// the destination only when it succeeds.
func (e *envReader) parsed(name string, parse func(string) error) {
	if v := e.getenv(name); v != "" {
		if err := parse(v); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q: %v", name, v, err))
		}
	}
}
