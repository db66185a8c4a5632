package main

import (
	"github.com/eventline/eventline/handlers/logsapi"
	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/platform/module"
)

// modules lists the business areas this binary is built with, configured
// by cfg. Everything that loops over areas (streams, decode table,
// projections, routes, workers) reads this list.
func modules(cfg Config) module.Set {
	return module.Set{
		logsapi.Module(cfg.logsConfig()),
		workflowsync.Module(cfg.syncConfig()),
		orders.Module(cfg.ordersConfig()),
	}
}
