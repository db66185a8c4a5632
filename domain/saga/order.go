package saga

// The order saga's type, step names and command types.
const (
	OrderSagaType = "create_order"

	StepValidateUser     = "validate_user"
	StepReserveInventory = "reserve_inventory"
	StepCreateOrder      = "create_order"
	StepProcessPayment   = "process_payment"
	StepSendNotification = "send_notification"

	CommandValidateUser     = "validate_user"
	CommandReserveInventory = "reserve_inventory"
	CommandReleaseInventory = "release_inventory"
	CommandCreateOrder      = "create_order"
	CommandCancelOrder      = "cancel_order"
	CommandProcessPayment   = "process_payment"
	CommandSendNotification = "send_notification"
)

// OrderSaga returns the order saga with every step's policy taken from p:
// validate_user (nothing to undo) → reserve_inventory (undone by
// release_inventory) → create_order (undone by cancel_order) →
// process_payment (the pivot) → send_notification (retriable).
func OrderSaga(p Policy) Definition {
	return Definition{
		Type: OrderSagaType,
		Steps: []Step{
			{Name: StepValidateUser, Action: CommandValidateUser, Kind: Compensatable},
			{Name: StepReserveInventory, Action: CommandReserveInventory, Compensation: CommandReleaseInventory, Kind: Compensatable},
			{Name: StepCreateOrder, Action: CommandCreateOrder, Compensation: CommandCancelOrder, Kind: Compensatable},
			{Name: StepProcessPayment, Action: CommandProcessPayment, Kind: Pivot},
			{Name: StepSendNotification, Action: CommandSendNotification, Kind: Retriable},
		},
	}.WithDefaults(p)
}
