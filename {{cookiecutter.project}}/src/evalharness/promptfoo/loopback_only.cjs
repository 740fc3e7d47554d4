// Preloaded (node --require) by `make promptfoo-view`. promptfoo's viewer has no host option and listens on
// every interface, which would publish eval data (questions, answers) to the network. A server that is
// started without a host listens on 127.0.0.1 here.
"use strict";
const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  } else if (args[0] && typeof args[0] === "object" && args[0].port !== undefined && !args[0].host) {
    args[0] = { ...args[0], host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
