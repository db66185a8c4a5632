// Package packed is the stored form of several events recorded as one
// (a saga decision's events, a product's commands stored together):
// {"events":[{"type":…,"data":…},…]}, each data the event's own payload.
// It is pure: the domains give it their events and their decode tables.
package packed
