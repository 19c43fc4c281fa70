module llmgateway/bench/static_upstream

go 1.22
