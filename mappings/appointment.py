from mappings.base import Column, ResourceMapping, first_time
from mappings.extract import first_of, start_of

MAPPING = ResourceMapping(
    resource_type="Appointment",
    table="appointments",
    columns=(
        Column("status", "text", first_of("status")),
        Column("start_ts", "timestamptz", start_of("start")),
    ),
    clinical_time=first_time(start_of("start"), start_of("created")),
    partition_param="date",
)
