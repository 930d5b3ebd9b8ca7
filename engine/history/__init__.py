"""What happened to an instance, as Camunda 7's history tables say it: activity instances
(`activities`), and the merged timeline that `arsflow show` lists (`timeline`)."""
