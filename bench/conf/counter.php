<?php
header('Content-Type: application/json');
header('Cache-Control: no-store');
$v = apcu_inc('counter', 1, $ok);
if ($v === false) {            // older APCu: the key must exist first
    apcu_add('counter', 0);
    $v = apcu_inc('counter');
}
echo json_encode(['counter' => $v, 'message' => 'Counter incremented',
                  'memory_info' => ['rss' => memory_get_usage(true),
                                    'peak' => memory_get_peak_usage(true),
                                    'pid' => getmypid()]]);
