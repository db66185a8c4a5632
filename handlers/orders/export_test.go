package orders

// SetBeforeConfirm makes p call f as each confirmation starts.
func SetBeforeConfirm(p *Participants, f func(sagaID string)) { p.beforeConfirm = f }
