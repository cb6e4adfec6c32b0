// A deliberate misuse: orderId is not selected on OrderShipped, and qty is
// an Int. tsc must refuse this file.
import type { OrderEventsSubscription, PlaceOrderMutationVariables } from "../operations";

export function wrong(result: OrderEventsSubscription): string {
  const data = result.orderEvent.data;
  if (data.__typename === "OrderShipped") {
    return data.orderId;
  }
  return "";
}

export const bad: PlaceOrderMutationVariables = {
  topic: "orders.eu",
  data: { orderId: "o-1", total: 12.5, lines: [{ sku: "A-1", qty: "two" }] },
};
