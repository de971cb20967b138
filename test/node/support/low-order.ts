/**
 * X25519 low-order points as age recipients (0, 1, the order-8 points, p − 1): well-formed bech32
 * of 32 bytes, yet agreement with them gives all zeros; Debian's `age -r` refuses them ("bad input
 * point: low order point"). Found by a black-box probe: the server took them and every sealed
 * send to such a terminal crashed.
 */
export const LOW_ORDER = [
  "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z",
  "age1qyqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqj7vrya",
  "age1ur4h5lpmgxu2u9jku0a0r87ydtdqnr0tnsetrlvxvgz3vh6fhqqqzyt4v9",
  "age1anlllllllllllllllllllllllllllllllllllllllllllllllals4n2t7m",
];
