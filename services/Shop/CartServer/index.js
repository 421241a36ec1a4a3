// CartServer: keeps a cart per user in memory; prints the cart after each "add" line on stdin.
const carts = new Map();
require("readline").createInterface({ input: process.stdin }).on("line", (line) => {
  const [user, item] = line.split(" ");
  const cart = carts.get(user) || [];
  cart.push(item);
  carts.set(user, cart);
  console.log(`${user}: ${cart.join(", ")}`);
});
