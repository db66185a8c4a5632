package orders

import (
	"bytes"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"unicode/utf8"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/platform/httpapi"
)

// Bounds of the write bodies of the orders API. A body outside them is
// refused with 400 before anything is decided or stored.
const (
	// maxText bounds a name, in bytes (the domain also bounds it to 200
	// characters).
	maxText = 200
	// maxEmail bounds an email address, in bytes (as the domain does).
	maxEmail = 254
	// maxID bounds an id given in a body or a path, in bytes.
	maxID = 128
	// maxItems bounds the lines of an order.
	maxItems = 100
	// maxQuantity bounds the units of one product in an order, lines of
	// the same product added up (the domain merges them).
	maxQuantity = 1_000_000
	// maxPriceCents bounds a product's price (ten million in cents), so
	// that an order's total (maxItems × maxQuantity units) stays far from
	// overflowing.
	maxPriceCents = 1_000_000_000
	// maxStock bounds a product's stock.
	maxStock = 1_000_000_000_000
	// maxToken bounds a payment token, in bytes.
	maxToken = 64
)

// userBody is the body of POST /api/users.
type userBody struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// productBody is the body of POST /api/products.
type productBody struct {
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      int64  `json:"stock"`
}

// orderBody is the body of POST /api/orders. order_id is accepted and
// ignored: the order's id is the saga's, chosen by the API.
type orderBody struct {
	OrderID string        `json:"order_id"`
	UserID  string        `json:"user_id"`
	Items   []order.Item  `json:"items"`
	Payment order.Payment `json:"payment"`
}

// decode unmarshals body, one JSON object with no unknown fields (a
// misspelt field would otherwise be silently zero), into v. It refuses
// what JSON decoding would silently change or PostgreSQL could not store:
// invalid UTF-8, lone UTF-16 surrogate escapes (both become U+FFFD) and
// NUL characters.
func decode(body []byte, v any) error {
	if err := checkRawJSON(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "invalid_json", "The body is not the JSON object expected: "+err.Error())
	}
	if dec.More() {
		return httpapi.Errorf(http.StatusBadRequest, "invalid_json", "The body must hold one JSON object only.")
	}
	return nil
}

// errInvalidText is checkRawJSON's answer to a string it refuses.
func errInvalidText(what string) error {
	return httpapi.Errorf(http.StatusBadRequest, "invalid_json", "Strings must not contain "+what+".")
}

// checkRawJSON scans the raw body: it must be valid UTF-8, and its string
// escapes must not spell NUL or a UTF-16 surrogate that is not part of a
// high-low pair.
func checkRawJSON(body []byte) error {
	if !utf8.Valid(body) {
		return errInvalidText("invalid UTF-8")
	}
	inString := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(body) {
				return nil // unterminated: the decoder reports it
			}
			i++
			if body[i] != 'u' {
				continue
			}
			r, ok := hex4(body, i+1)
			if !ok {
				return nil // malformed escape: the decoder reports it
			}
			i += 4
			switch {
			case r == 0:
				return errInvalidText("NUL characters")
			case r >= 0xDC00 && r <= 0xDFFF:
				return errInvalidText("a lone UTF-16 surrogate escape")
			case r >= 0xD800 && r <= 0xDBFF:
				if i+2 >= len(body) || body[i+1] != '\\' || body[i+2] != 'u' {
					return errInvalidText("a lone UTF-16 surrogate escape")
				}
				low, ok := hex4(body, i+3)
				if !ok || low < 0xDC00 || low > 0xDFFF {
					return errInvalidText("a lone UTF-16 surrogate escape")
				}
				i += 6
			}
		}
	}
	return nil
}

// hex4 reads the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// validID reports whether id can name an aggregate: 1 to maxID bytes of
// letters, digits, '-' and '_'. Ids become NATS subject tokens, where '.',
// '*', '>' and spaces would change what a subject means.
func validID(id string) bool {
	if id == "" || len(id) > maxID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// pathID returns the {id} path value, or a 404 error naming what when it
// cannot be an id (so no such thing exists).
func pathID(r *http.Request, what string) (string, error) {
	id := r.PathValue("id")
	if !validID(id) {
		return "", httpapi.Errorf(http.StatusNotFound, "not_found", "No such "+what+".")
	}
	return id, nil
}

// check returns the first of errs that is not nil, as a field error.
func check(checks ...fieldCheck) error {
	for _, c := range checks {
		if !c.ok {
			return httpapi.FieldErr(c.field, c.message)
		}
	}
	return nil
}

// fieldCheck is one bound of a body's field.
type fieldCheck struct {
	ok             bool
	field, message string
}

func (b userBody) validate() error {
	return check(
		fieldCheck{len(b.Name) <= maxText, "name", fmt.Sprintf("name must be at most %d bytes.", maxText)},
		fieldCheck{len(b.Email) <= maxEmail, "email", fmt.Sprintf("email must be at most %d bytes.", maxEmail)},
	)
}

func (b productBody) validate() error {
	return check(
		fieldCheck{len(b.Name) <= maxText, "name", fmt.Sprintf("name must be at most %d bytes.", maxText)},
		fieldCheck{b.PriceCents >= 0 && b.PriceCents <= maxPriceCents, "price_cents",
			fmt.Sprintf("price_cents must be between 0 and %d.", maxPriceCents)},
		fieldCheck{b.Stock >= 0 && b.Stock <= maxStock, "stock", fmt.Sprintf("stock must be between 0 and %d.", maxStock)},
	)
}

// validate bounds an order's body. Lines of the same product are accepted
// and added up, as the domain does (OrderInput.Quantities): the sum is
// what is bounded.
func (b orderBody) validate() error {
	if err := check(
		fieldCheck{validID(b.UserID), "user_id", "user_id must be an id (letters, digits, '-', '_', at most 128 bytes)."},
		fieldCheck{len(b.Items) >= 1 && len(b.Items) <= maxItems, "items", fmt.Sprintf("items must have 1 to %d lines.", maxItems)},
		fieldCheck{b.Payment.Token != "" && len(b.Payment.Token) <= maxToken, "payment.token",
			fmt.Sprintf("payment.token must have 1 to %d bytes.", maxToken)},
	); err != nil {
		return err
	}
	sum := make(map[string]int64, len(b.Items))
	for i, it := range b.Items {
		field := fmt.Sprintf("items[%d]", i)
		if !validID(it.ProductID) {
			return httpapi.FieldErr(field+".product_id", "product_id must be an id (letters, digits, '-', '_', at most 128 bytes).")
		}
		if it.Quantity < 1 || it.Quantity > maxQuantity {
			return httpapi.FieldErr(field+".quantity", fmt.Sprintf("quantity must be between 1 and %d.", maxQuantity))
		}
		sum[it.ProductID] += it.Quantity
		if sum[it.ProductID] > maxQuantity {
			return httpapi.FieldErr(field+".quantity", fmt.Sprintf("the quantities of product %s add up to more than %d.", it.ProductID, maxQuantity))
		}
	}
	return nil
}
