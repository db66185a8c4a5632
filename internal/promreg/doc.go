// Package promreg registers Prometheus collectors that several instances in
// one process share (reactor runtimes, sync workers, saga managers): the
// first registration wins and the later ones reuse its series.
package promreg
