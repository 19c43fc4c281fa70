# The official `openai` npm package, judge of the OpenAI door (tests/test_openai_sdk_node.py), at
# exactly the version tests/sdk/node/package-lock.json pins (npm ci reads the lock, never resolves).
SDK_NODE_DIR := tests/sdk/node

$(SDK_NODE_DIR)/node_modules/.installed: $(SDK_NODE_DIR)/package.json $(SDK_NODE_DIR)/package-lock.json
	cd $(SDK_NODE_DIR) && npm ci --no-audit --no-fund --silent
	touch $@

pytest: $(SDK_NODE_DIR)/node_modules/.installed
