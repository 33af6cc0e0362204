"""The Product service (SPEC 3.1-3.6): what makes a finished task useful to the person who ran
it: goal satisfaction, the narrative, templates, compare, export, metering and quotas."""
