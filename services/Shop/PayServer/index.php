<?php
// PayServer: approves payments up to a limit.
$amount = intval($argv[1] ?? 0);
echo $amount <= 100000 ? "approved\n" : "declined\n";
