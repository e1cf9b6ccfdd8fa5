import dagster as dg

# One partition per district key; a sensor keeps it equal to the registry.
district_partitions = dg.DynamicPartitionsDefinition(name="district")
