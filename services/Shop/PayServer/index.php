<?php
// PayServer: approves payments up to a limit, and thanks the payer through HelloServer (Pay.tars includes
// its interface): a full TARS client calls $communicator->stringToProxy('base.helloserver.helloobj').
const HELLO_OBJ = 'base.helloserver.helloobj';  // TARS object names ignore case
$amount = intval($argv[1] ?? 0);
echo $amount <= 100000 ? "approved\n" : "declined\n";
