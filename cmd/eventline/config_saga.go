package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/handlers/orders"
)

// maxSagaDuration bounds every EVENTLINE_SAGA_* duration: a timer further
// out than this is a typo, not a policy.
const maxSagaDuration = 7 * 24 * time.Hour

// minSagaDuration bounds every EVENTLINE_SAGA_* duration from below:
// sub-second retry delays and timeouts are allowed (Restate's first retry
// is 50 ms); the manager fires a timer due within two seconds from memory
// as well, since JetStream's schedules fire on whole seconds.
const minSagaDuration = time.Millisecond

// maxPartitions bounds EVENTLINE_PARTITIONS: each partition is a consumer
// every saga process pulls on while it owns or wants it.
const maxPartitions = 256

// loadSagaEnv reads the EVENTLINE_SAGA_* variables and EVENTLINE_PARTITIONS
// over c.
func (c *Config) loadSagaEnv(env *envReader) {
	env.duration("EVENTLINE_SAGA_STEP_TIMEOUT", &c.SagaStepTimeout)
	env.duration("EVENTLINE_SAGA_RETRY_DELAY", &c.SagaRetryDelay)
	env.duration("EVENTLINE_SAGA_COMPENSATION_TIMEOUT", &c.SagaCompensationTimeout)
	env.number("EVENTLINE_PARTITIONS", &c.SagaPartitions)
	env.number("EVENTLINE_SAGA_RETRY_ATTEMPTS", &c.SagaRetryAttempts)
}

// bindSagaFlags registers the saga flags of serve over c.
func (c *Config) bindSagaFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.SagaStepTimeout, "saga-step-timeout", c.SagaStepTimeout, "one saga step attempt's time limit (EVENTLINE_SAGA_STEP_TIMEOUT)")
	fs.IntVar(&c.SagaPartitions, "partitions", c.SagaPartitions,
		"saga partitions, each owned by one saga process at a time; the same in every process (EVENTLINE_PARTITIONS)")
	fs.IntVar(&c.SagaRetryAttempts, "saga-retry-attempts", c.SagaRetryAttempts, "attempts per saga step, the first included (EVENTLINE_SAGA_RETRY_ATTEMPTS)")
	fs.DurationVar(&c.SagaRetryDelay, "saga-retry-delay", c.SagaRetryDelay, "first retry delay of a saga step (EVENTLINE_SAGA_RETRY_DELAY)")
	fs.DurationVar(&c.SagaCompensationTimeout, "saga-compensation-timeout", c.SagaCompensationTimeout,
		"how long a compensation keeps retrying before the saga is failed (EVENTLINE_SAGA_COMPENSATION_TIMEOUT)")
}

// validateSaga reports every problem of the saga settings.
func (c Config) validateSaga() []error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"EVENTLINE_SAGA_STEP_TIMEOUT", c.SagaStepTimeout},
		{"EVENTLINE_SAGA_RETRY_DELAY", c.SagaRetryDelay},
		{"EVENTLINE_SAGA_COMPENSATION_TIMEOUT", c.SagaCompensationTimeout},
	} {
		if d.v < minSagaDuration || d.v > maxSagaDuration {
			errs = append(errs, fmt.Errorf("%s %v: must be %v..%v", d.name, d.v, minSagaDuration, maxSagaDuration))
		}
	}
	if c.SagaPartitions < 1 || c.SagaPartitions > maxPartitions {
		errs = append(errs, fmt.Errorf("EVENTLINE_PARTITIONS %d: must be 1..%d", c.SagaPartitions, maxPartitions))
	}
	if c.SagaRetryAttempts < 1 || c.SagaRetryAttempts > 100 {
		errs = append(errs, fmt.Errorf("EVENTLINE_SAGA_RETRY_ATTEMPTS %d: must be 1..100", c.SagaRetryAttempts))
	}
	return errs
}

// sagaPolicy is the order saga's step policy: the EVENTLINE_SAGA_*
// settings over saga.DefaultPolicy (which gives the jitter and the cap of
// the backoff).
func (c Config) sagaPolicy() saga.Policy {
	p := saga.DefaultPolicy()
	p.Attempts = c.SagaRetryAttempts
	p.FirstDelay = c.SagaRetryDelay
	p.MaxDelay = max(p.MaxDelay, c.SagaRetryDelay)
	p.AttemptTimeout = c.SagaStepTimeout
	p.CompensationTimeout = c.SagaCompensationTimeout
	return p
}

// ordersConfig returns the order saga module's configuration.
func (c Config) ordersConfig() orders.Config {
	return orders.Config{Policy: c.sagaPolicy(), Partitions: c.SagaPartitions}
}
