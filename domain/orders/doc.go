// Package orders is the pure part of the order saga's participants: the
// user, product (inventory), order, payment and notification aggregates of
// the ORDERS stream, their events, decode table and decisions (Evolve,
// Decide, Answer), and the contract's simulated behaviours (payment tokens
// tok_ok, tok_declined, tok_flaky, tok_slow; stock shortage; addresses
// ending in "@bounce.test"). It does no I/O; domain/saga sends it commands
// and handlers/orders runs it on the event store.
package orders

// Notes for whoever changes it (not the package doc):
//
// Every event is on the ORDERS stream, one subject per aggregate:
// user.<user_id>, product.<product_id>, order.<order_id>,
// payment.<order_id> and notification.<order_id>. A product's subject
// serialises every reservation of it, which is why inventory never
// oversells under concurrent orders. Commands on a product that queue
// behind an append to it are decided in turn and stored together, as one
// product.batch.v1 message holding their events (PackProducts, Flatten);
// Product.Evolve folds it as those events.
//
// Participants dedupe on the saga's idempotency key (saga.Key): the first
// final outcome of a key — reserved or refused, charged or declined, sent
// or bounced — is recorded in an event and every later command with that
// key, whatever its attempt, decides nothing new and answers the same. A
// compensation (Release, Cancel, Refund) for a key that never took effect
// records a tombstone, so that a late action with that key is refused.
//
// Each aggregate has three pure functions: Evolve folds an event (decoded
// through Events) into a new state and never changes the one it is given;
// Decide returns the events a command produces; Answer returns, from the
// state after those events, the participant's Outcome for the command, from
// which Outcome.Reply builds the saga.Reply. Decide returns a domain error
// only for commands that come from people (CreateUser, CreateProduct) and
// for a command the aggregate does not handle (ErrUnknownCommand): the
// saga's commands always get an answer, success or failure.
