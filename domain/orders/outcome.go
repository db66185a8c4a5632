package orders

import (
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/eventline/eventline/domain/saga"
)

// Outcome is a participant's answer to one of the saga's commands: a
// success with its output, or a transient or permanent failure with its
// reason.
type Outcome struct {
	// Failure is empty on success, else saga.Transient or saga.Permanent.
	Failure saga.Failure
	// Output is the step's output (JSON) on success.
	Output json.RawMessage
	// Error says why the command failed.
	Error string
	// Slow says the participant answers late: the runner must not send
	// this reply before the attempt's deadline (saga.Command.Deadline) has
	// passed — it may send it a little after, or drop it. It is tok_slow's
	// first attempt, which charges but answers after the step timed out.
	Slow bool
}

// OK reports whether o is a success.
func (o Outcome) OK() bool { return o.Failure == "" }

// Reply returns the saga.Reply that answers cmd with o, received at now.
func (o Outcome) Reply(cmd saga.Command, now time.Time) saga.Reply {
	return saga.Reply{Step: cmd.Step, Attempt: cmd.Attempt, Compensation: cmd.Compensation,
		Failure: o.Failure, Output: o.Output, Error: o.Error, Now: now}
}

// Success returns a successful outcome whose output is v as JSON (a
// runner that combines several answers, as reserve_inventory does for an
// order of several products, builds its own).
func Success(v any) Outcome {
	b, err := json.Marshal(v)
	if err != nil {
		return permanent("encode output: " + err.Error())
	}
	return Outcome{Output: b}
}

// Fail returns a failed outcome of kind failure (saga.Transient or
// saga.Permanent) saying msg.
func Fail(failure saga.Failure, msg string) Outcome { return Outcome{Failure: failure, Error: msg} }

func success(v any) Outcome { return Success(v) }

func permanent(msg string) Outcome { return Outcome{Failure: saga.Permanent, Error: msg} }

func transient(msg string) Outcome { return Outcome{Failure: saga.Transient, Error: msg} }

// Outputs of the participants' successful answers, which the saga records
// as the steps' outputs and passes to the later steps.
type (
	// UserOutput is validate_user's output.
	UserOutput struct {
		UserID string `json:"user_id"`
		Name   string `json:"name"`
		Email  string `json:"email"`
	}
	// ReservationOutput is a product's answer to Reserve, Release or
	// Commit (for Release: the quantity released, 0 for a tombstone).
	ReservationOutput struct {
		ProductID  string `json:"product_id"`
		Key        string `json:"key"`
		Quantity   int64  `json:"quantity"`
		PriceCents int64  `json:"price_cents"`
		Status     string `json:"status"`
	}
	// OrderOutput is an order's answer to CreateOrder, ConfirmOrder and
	// CancelOrder.
	OrderOutput struct {
		OrderID    string `json:"order_id"`
		Status     string `json:"status"`
		TotalCents int64  `json:"total_cents"`
	}
	// PaymentOutput is the answer to Charge and Refund.
	PaymentOutput struct {
		OrderID     string `json:"order_id"`
		Key         string `json:"key"`
		Status      string `json:"status"`
		AmountCents int64  `json:"amount_cents"`
	}
	// NotificationOutput is the answer to Send.
	NotificationOutput struct {
		Key    string `json:"key"`
		Email  string `json:"email"`
		Status string `json:"status"`
	}
)
