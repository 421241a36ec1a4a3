// Shared helper used by Shop services: format an amount in cents.
module.exports.format = (cents, currency) => `${(cents / 100).toFixed(2)} ${currency}`;
