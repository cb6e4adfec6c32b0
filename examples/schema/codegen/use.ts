// Code a frontend writes against the generated types: it compiles.
import type { OrderEventsSubscription, PlaceOrderMutationVariables } from "./operations";

export function describe(result: OrderEventsSubscription): string {
  const data = result.orderEvent.data;
  switch (data.__typename) {
    case "OrderPlaced":
      return `${data.orderId}: ${data.total} ${data.currency ?? ""} ${data.lines.map((l) => `${l.qty}x${l.sku}`).join(", ")}`;
    case "OrderShipped":
      return `shipped by ${data.carrier}${data.at ? " at " + data.at : ""}`;
  }
}

export const place: PlaceOrderMutationVariables = {
  topic: "orders.eu",
  data: { orderId: "o-1", total: 12.5, currency: "EUR", lines: [{ sku: "A-1", qty: 2 }] },
};
