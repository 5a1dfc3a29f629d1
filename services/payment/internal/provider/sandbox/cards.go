package sandbox

import "github.com/slipway-dev/slipway/services/payment/internal/provider"

// The sandbox's test payment methods; the package documentation says what
// each does.
const (
	CardVisa                     = "pm_card_visa"
	CardMastercard               = "pm_card_mastercard"
	CardAmex                     = "pm_card_amex"
	CardDeclined                 = "pm_card_chargeDeclined"
	CardInsufficientFunds        = "pm_card_chargeDeclinedInsufficientFunds"
	CardFraudulent               = "pm_card_chargeDeclinedFraudulent"
	CardExpired                  = "pm_card_chargeDeclinedExpiredCard"
	CardIncorrectCVC             = "pm_card_chargeDeclinedIncorrectCvc"
	CardAuthenticationRequired   = "pm_card_authenticationRequired"
	CardTransient                = "pm_card_transient"
	CardTimeout                  = "pm_card_timeout"
	DefaultPaymentMethod         = CardVisa
	defaultTransientCardFailures = 2
)

// cardBehaviour is what Authorize does with a payment method.
type cardBehaviour int

const (
	cardUnknown cardBehaviour = iota
	cardAuthorizes
	cardDeclines
	cardTransient
	cardTimeout
)

// declines are the decline each declining card answers with; the messages
// are Stripe's.
var declines = map[string]provider.DeclineError{
	CardDeclined:               {Code: "card_declined", Message: "Your card was declined."},
	CardInsufficientFunds:      {Code: "insufficient_funds", Message: "Your card has insufficient funds."},
	CardFraudulent:             {Code: "fraudulent", Message: "Your card was declined."},
	CardExpired:                {Code: "expired_card", Message: "Your card has expired."},
	CardIncorrectCVC:           {Code: "incorrect_cvc", Message: "Your card's security code is incorrect."},
	CardAuthenticationRequired: {Code: "authentication_required", Message: "Your card was declined. This transaction requires authentication."},
}

// behaviourOf returns what Authorize does with the payment method pm.
func behaviourOf(pm string) cardBehaviour {
	switch pm {
	case CardVisa, CardMastercard, CardAmex:
		return cardAuthorizes
	case CardTransient:
		return cardTransient
	case CardTimeout:
		return cardTimeout
	}
	if _, ok := declines[pm]; ok {
		return cardDeclines
	}
	return cardUnknown
}
