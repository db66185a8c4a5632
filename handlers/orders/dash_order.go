package orders

import (
	"context"
	"errors"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/platform/httpapi"
)

// Bounds of the order form.
const (
	// formOptions bounds the users and the products the form offers (the
	// newest).
	formOptions = 100
	// demoStock and demoPriceCents are a demo product's.
	demoStock      = 1000
	demoPriceCents = 1999
)

// paymentTokens are the tokens the form offers, each with what it does.
var paymentTokens = []option{
	{ID: order.TokenOK, Label: order.TokenOK + " — charged"},
	{ID: order.TokenDeclined, Label: order.TokenDeclined + " — declined: the saga compensates"},
	{ID: order.TokenFlaky, Label: order.TokenFlaky + " — fails transiently, then charged"},
	{ID: order.TokenSlow, Label: order.TokenSlow + " — answers after the step's timeout"},
}

// option is an entry of a select of the form.
type option struct {
	ID, Label string
	Selected  bool
}

// orderForm is the order form with its choices, and the outcome of the
// last action.
type orderForm struct {
	Users, Products, Tokens []option
	Message                 string
	Refused                 bool
	// SagaID, when set, is the saga the form just placed.
	SagaID string
}

// orderForm reads the users and products to offer, newest first; user and
// product, when not nil, are offered (and selected) even when the read
// model has not recorded them yet (just created).
func (a *API) orderForm(ctx context.Context, user, product *option) (orderForm, error) {
	f := orderForm{Tokens: slices.Clone(paymentTokens)}
	var err error
	f.Users, err = readRows(ctx, a, `SELECT id, name, email FROM users ORDER BY id DESC LIMIT $1`, []any{formOptions},
		func(row pgx.CollectableRow) (option, error) {
			var o option
			var name, email string
			err := row.Scan(&o.ID, &name, &email)
			o.Label = name + " <" + email + ">"
			return o, err
		})
	if err != nil {
		return orderForm{}, err
	}
	f.Products, err = readRows(ctx, a, `SELECT id, name, price_cents, stock - reserved FROM products ORDER BY id DESC LIMIT $1`,
		[]any{formOptions}, func(row pgx.CollectableRow) (option, error) {
			var o option
			var name string
			var price, free int64
			err := row.Scan(&o.ID, &name, &price, &free)
			o.Label = fmt.Sprintf("%s — %d.%02d, %d free", name, price/100, price%100, free)
			return o, err
		})
	if err != nil {
		return orderForm{}, err
	}
	f.Users = pick(f.Users, user)
	f.Products = pick(f.Products, product)
	return f, nil
}

// pick selects o in opts, adding it first when it is not there.
func pick(opts []option, o *option) []option {
	if o == nil {
		return opts
	}
	for i := range opts {
		if opts[i].ID == o.ID {
			opts[i].Selected = true
			return opts
		}
	}
	sel := *o
	sel.Selected = true
	return append([]option{sel}, opts...)
}

// formValues reads the posted form (the dashboard bounded and parsed it
// already: dashboard.MaxFormBytes).
func formValues(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return httpapi.Errorf(http.StatusBadRequest, "invalid_form", "The form could not be read.")
	}
	return nil
}

// placeOrder places an order from the form through the API's code (POST
// /api/orders) and answers the form with a link to its saga.
func (p *dashPages) placeOrder(w http.ResponseWriter, r *http.Request) {
	if err := formValues(w, r); err != nil {
		p.fail(w, r, err)
		return
	}
	user, product, token := r.PostForm.Get("user_id"), r.PostForm.Get("product_id"), r.PostForm.Get("token")
	f, err := p.a.orderForm(r.Context(), &option{ID: user, Label: user}, &option{ID: product, Label: product})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	for i := range f.Tokens {
		f.Tokens[i].Selected = f.Tokens[i].ID == token
	}
	id, err := p.a.placeFromForm(r.Context(), user, product, r.PostForm.Get("quantity"), token)
	if e, ok := errors.AsType[*httpapi.Error](err); ok {
		f.Message, f.Refused = "Not placed: "+e.Message, true
		if !validID(user) || !validID(product) {
			f.Users, f.Products = drop(f.Users, user), drop(f.Products, product)
		}
		p.d.Fragment(w, r, p.list, "order-form-fragment", f)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	f.SagaID, f.Message = id, "Order placed."
	p.d.Fragment(w, r, p.list, "order-form-fragment", f)
}

// drop removes the option of id, which the form does not offer.
func drop(opts []option, id string) []option {
	out := opts[:0:0]
	for _, o := range opts {
		if o.ID != id {
			out = append(out, o)
		}
	}
	return out
}

// placeFromForm validates the form's fields and places the order as POST
// /api/orders does (the same body, validation and code); it returns the
// saga's id.
func (a *API) placeFromForm(ctx context.Context, user, product, quantity, token string) (string, error) {
	q, err := strconv.ParseInt(quantity, 10, 64)
	if err != nil || q < 1 || q > maxQuantity {
		return "", httpapi.FieldErr("quantity", fmt.Sprintf("quantity must be a whole number between 1 and %d.", maxQuantity))
	}
	known := false
	for _, t := range paymentTokens {
		known = known || t.ID == token
	}
	if !known {
		return "", httpapi.FieldErr("token", "token must be one of tok_ok, tok_declined, tok_flaky, tok_slow.")
	}
	if product == "" {
		return "", httpapi.FieldErr("product_id", "Choose a product (or create a demo one).")
	}
	if user == "" {
		return "", httpapi.FieldErr("user_id", "Choose a user (or create a demo one).")
	}
	body, _ := json.Marshal(orderBody{UserID: user, Items: []order.Item{{ProductID: product, Quantity: q}},
		Payment: order.Payment{Token: token}})
	resp, err := a.createOrder(ctx, body, "")
	if err != nil {
		return "", err
	}
	ids, _ := resp.Body.(map[string]string)
	return ids["saga_id"], nil
}

// createDemo creates a demo user (whose address bounces when asked: its
// saga ends in needs_attention) and a demo product with stock, through the
// API's code (POST /api/users, POST /api/products), and answers the order
// form with them selected.
func (p *dashPages) createDemo(w http.ResponseWriter, r *http.Request) {
	if err := formValues(w, r); err != nil {
		p.fail(w, r, err)
		return
	}
	domain := "@example.com"
	if r.PostForm.Get("bounce") != "" {
		domain = order.BounceDomain
	}
	n := time.Now().UTC().Format("150405.000")
	name := "Demo " + n
	ub, _ := json.Marshal(userBody{Name: name, Email: "demo-" + n + domain})
	u, err := p.a.createUser(r.Context(), ub, "")
	if err != nil {
		p.fail(w, r, err)
		return
	}
	pb, _ := json.Marshal(productBody{Name: "Demo product " + n, PriceCents: demoPriceCents, Stock: demoStock})
	pr, err := p.a.createProduct(r.Context(), pb, "")
	if err != nil {
		p.fail(w, r, err)
		return
	}
	uid, _ := u.Body.(map[string]string)
	pid, _ := pr.Body.(map[string]string)
	f, err := p.a.orderForm(r.Context(),
		&option{ID: uid["id"], Label: name + " <demo-" + n + domain + ">"},
		&option{ID: pid["id"], Label: fmt.Sprintf("Demo product %s — %d.%02d, %d free", n, demoPriceCents/100, demoPriceCents%100, demoStock)})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	f.Message = "Created user " + name + " (" + "demo-" + n + domain + ") and a product with " + strconv.Itoa(demoStock) + " in stock."
	p.d.Fragment(w, r, p.list, "order-form-fragment", f)
}
