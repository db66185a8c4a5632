package main

import (
	"github.com/eventline/eventline/handlers/logsapi"
	"github.com/eventline/eventline/internal/module"
)

// modules lists the business areas this binary is built with. Everything
// that loops over areas (streams, decode table, projections, routes,
// workers) reads this list.
func modules() module.Set {
	return module.Set{
		logsapi.Module(),
	}
}
