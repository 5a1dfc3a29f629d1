// Package sandbox is the payment service's built-in provider: a payment
// service provider that runs in the process and behaves like a real one, so
// the order saga meets latency, declines, transient failures, timeouts and
// idempotent replays without an account anywhere.
//
// It answers after a latency drawn from a log-normal distribution (by
// default a median of 40 ms and a p99 of 80 ms, so most calls take 20 to
// 80 ms), half before the request takes effect and half after: a context
// that ends in the first half leaves nothing done, one that ends in the
// second leaves the effect done and the answer lost. Either way the call
// returns provider.ErrOutcomeUnknown, and a retry with the same idempotency
// key tells which.
//
// Idempotency works as Stripe's does: a key sent again with the same
// parameters returns the first answer (a decline included) without a second
// effect; the same key with other parameters, or for another operation, is
// provider.ErrIdempotencyKeyReused. Failures that happen before a request
// takes effect (transient ones, invalid requests, forbidden state changes)
// are not stored under the key, so a retry is evaluated afresh.
//
// A payment moves authorized → captured → refunded (refunds may be partial
// and add up to the captured amount), or authorized → voided. Anything
// else is provider.ErrWrongState.
//
// # Test payment methods
//
// The payment method decides what Authorize does, in the spirit of Stripe's
// test cards:
//
//	payment method                          Authorize
//	--------------------------------------  ------------------------------------------------
//	pm_card_visa, pm_card_mastercard,       authorized
//	pm_card_amex, "" (the default)
//	pm_card_chargeDeclined                  declined: card_declined
//	pm_card_chargeDeclinedInsufficientFunds declined: insufficient_funds
//	pm_card_chargeDeclinedFraudulent        declined: fraudulent
//	pm_card_chargeDeclinedExpiredCard       declined: expired_card
//	pm_card_chargeDeclinedIncorrectCvc      declined: incorrect_cvc
//	pm_card_authenticationRequired          declined: authentication_required (3-D Secure
//	                                        needs the customer; off-session it cannot pass)
//	pm_card_transient                       provider.ErrTransient for the first attempts
//	                                        with an idempotency key (2 by default, see
//	                                        WithTransientCardFailures), then authorized
//	pm_card_timeout                         never answers: waits until the context ends,
//	                                        then provider.ErrOutcomeUnknown; nothing is held
//	anything else                           provider.ErrInvalidRequest (no such payment method)
//
// # Chaos
//
// WithTransientRate makes a share of all calls fail with
// provider.ErrTransient before they take effect, and WithLatency sets the
// latency's median and p99; WithSeed makes both repeatable.
//
// # State
//
// Payments and the answers stored under idempotency keys live in a Ledger:
// NewMemoryLedger for tests and throwaway runs, NewSQLLedger on the payment
// service's database (SQLite or PostgreSQL) so that a restart keeps
// authorizations capturable. Schema returns the ledger's tables as a goose
// migration for the payment store to include.
package sandbox
