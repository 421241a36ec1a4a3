// CartServer: keeps a cart per user in memory; prints the cart after each "add" line on stdin.
// It greets through HelloServer (interface Base.Hello, copied in Hello.tars): a full TARS client calls
// Communicator.stringToProxy(HelloProxy, HELLO_OBJ).
const HELLO_OBJ = "Base.HelloServer.HelloObj";
const carts = new Map();
require("readline").createInterface({ input: process.stdin }).on("line", (line) => {
  const [user, item] = line.split(" ");
  const cart = carts.get(user) || [];
  cart.push(item);
  carts.set(user, cart);
  console.log(`${user}: ${cart.join(", ")}`);
  if (process.env.CART_TRACE) console.error(`would greet ${user} through ${HELLO_OBJ}`);
});
