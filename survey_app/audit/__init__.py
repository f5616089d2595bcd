"""Who read what: an append-only log of reads of citizens' comments and of the microdata.

``log`` records and reads entries (called by the comment and microdata routes, and by
``survey purge audit``); ``controller`` shows them to admins at ``/api/v1/audit``. The two
sit in different layers of the import contract: statistics calls ``log``, and
``controller`` renders with the statistics' own CSV/XLSX writer.
"""
